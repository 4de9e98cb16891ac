"""The typed contract (edge.contract): the schemas in docs/ are generated from it, node and hub use
one topic scheme, one set of transfer codes and one time-stamp format."""

from __future__ import annotations

import json
import re
from datetime import timedelta, timezone

import pytest
from pydantic import ValidationError

from edge.contract import COMMAND_ARGS, TIME_PATTERN, HubTopics, Topics, iso
from edge.contract.commands import EvidenceHoldArgs, ZoneArgs, first_error, renamed
from edge.contract.schemas import GENERATED, write

from .conftest import REPO
from .schemas import SCHEMAS, assert_valid


def test_every_schema_in_docs_is_generated_from_the_models_and_current(tmp_path):
    write(tmp_path)
    generated = {p.name for p in tmp_path.glob("*.schema.json")}
    assert generated == {p.name for p in SCHEMAS.glob("*.schema.json")}, "a schema in docs/ no model makes"
    for name in GENERATED:
        committed = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
        assert committed == json.loads((tmp_path / f"{name}.schema.json").read_text()), \
            f"docs/schemas/{name}.schema.json is stale: python -m edge.contract.schemas"


def test_the_wire_schema_requires_what_a_node_always_sends_and_checks_the_time_format():
    message = {"id": "v1", "node": "n1", "rule": "r", "kind": "fishing", "basis": "rod", "stage": "alert",
               "zone": "shore", "started_at": "2026-04-10T09:00:33.200+08:00", "warned_at": None,
               "confirmed_at": None, "ended_at": None, "ts": "2026-04-10T09:00:33.200+08:00", "objects": [],
               "confidence": 0.5, "location": None, "snapshot": None, "evidence": None, "version": "0.1.0"}
    assert_valid("alert", message)
    with pytest.raises(AssertionError, match="ts"):
        assert_valid("alert", {**message, "ts": "2026-04-10T09:00:33+0800"})
    with pytest.raises(AssertionError, match="basis"):
        assert_valid("alert", {k: v for k, v in message.items() if k != "basis"})
    with pytest.raises(AssertionError, match="kind"):
        assert_valid("alert", {**message, "kind": "jaywalking"})
    stats = {"ts": iso(0.0), "fps": 1.0, "frames": 1, "dropped": 0, "source": "streaming", "uptime_s": 1.0}
    assert_valid("stats", stats)
    with pytest.raises(AssertionError, match="source"):
        assert_valid("stats", {**stats, "source": "sleeping"})


def test_the_command_schema_checks_the_args_of_each_command_by_name():
    envelope = {"id": "c1", "node": "n1", "name": "zone", "args": {"zone": "shore", "armed": True},
                "issued_at": "2026-04-10T09:00:00.000+00:00", "expires_at": "2026-04-10T09:01:00.000+00:00",
                "nonce": "x", "sig": "AA=="}
    assert_valid("command", envelope)
    with pytest.raises(AssertionError):
        assert_valid("command", {**envelope, "args": {"zone": "shore"}})  # armed missing
    with pytest.raises(AssertionError):
        assert_valid("command", {**envelope, "name": "ping"})  # ping takes no args
    assert set(COMMAND_ARGS) == set(json.loads((SCHEMAS / "command.schema.json").read_text())
                                    ["properties"]["name"]["enum"])


def test_one_time_format_everywhere():
    eight = timezone(timedelta(hours=8))
    stamp = iso(1775782833.2, eight)
    assert stamp == "2026-04-10T09:00:33.200+08:00" and re.match(TIME_PATTERN, stamp)
    assert re.match(TIME_PATTERN, iso(0.0)), "the local zone too has a colon in its offset"
    source = "\n".join(p.read_text() for p in (REPO / "edge").rglob("*.py")
                       if p.name not in ("mqtt.py", "upload.py"))  # the uplink's files: switched at merge
    assert "%Y-%m-%dT%H:%M:%S%z" not in source


def test_node_and_hub_build_the_same_topics():
    node, hub = Topics("site/a", "n1"), HubTopics("site/a")
    assert hub.node("n1") == node
    assert hub.split(node.alert) == ("n1", "alert") and hub.split(node.status) == ("n1", "status")
    assert hub.split(node.command("zone")) is None and hub.split(hub.boot) is None
    assert node.hub_boot == hub.boot == "site/a/hub/boot"
    assert hub.shared("g", hub.alerts) == "$share/g/site/a/+/alert" and hub.shared(None, hub.alerts) == hub.alerts
    assert node.command_name(node.command("evidence_ack")) == "evidence_ack"


def test_the_transfer_codes_have_one_definition():
    from edge.contract import transfer
    from edge.hub import receive

    for name in ("RC_SUCCESS", "RC_RESEND", "RC_CANCEL", "RC_REFUSED"):
        assert getattr(receive, name) is getattr(transfer, name)


def test_args_models_name_the_field_and_take_old_spellings():
    with pytest.raises(ValidationError) as caught:
        ZoneArgs.model_validate({"zone": "shore", "armed": "maybe"})
    assert first_error(caught.value).startswith("bad args: armed: ")
    args, notes = renamed(EvidenceHoldArgs, {"id": "b1", "hold": False})
    assert EvidenceHoldArgs.model_validate(args) == EvidenceHoldArgs(bundle="b1", hold=False)
    assert notes == ["argument 'id' is deprecated, use 'bundle'"]
