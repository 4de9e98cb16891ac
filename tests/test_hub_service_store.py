"""The hub's store and ingest on SQLite and on a real PostgreSQL: migrations, once-only ingest with
receipts, incident grouping, every transition with its audit record, and the time-target flags."""

from __future__ import annotations

import json
import time

import pytest

from edge.hub.service.config import load_config
from edge.hub.service.db import Database
from edge.hub.service.incidents import SELECT, TransitionError, as_dict, transition
from edge.hub.service.ingest import Ingest
from edge.hub.service.migrations import MIGRATIONS
from edge.hub.service.mqtt import Inbound

from .hub_rig import lifecycle, store_url, write_config  # noqa: F401


class Rig:
    def __init__(self, tmp_path, url, **kw):
        self.config = load_config(write_config(tmp_path / "hub", url=url, **kw))
        self.db = Database(self.config.store_url)
        self.db.migrate()
        self.sent: list[tuple[str, bytes]] = []
        self.ingest = Ingest(self.db, self.config, lambda topic, payload: self.sent.append((topic, payload)))

    def feed(self, *messages: dict, topic: str | None = None, raw: bytes | None = None) -> None:
        items = [Inbound(topic or f"edge/{m['node']}/alert", raw or json.dumps(m).encode(), i + 1, 1, time.time())
                 for i, m in enumerate(messages)]
        self.ingest.handle(items)

    def receipts(self) -> list[tuple[str, str]]:
        return [(i["id"], i["stage"]) for t, p in self.sent if t.endswith("/receipt") for i in json.loads(p)["items"]]

    def incidents(self) -> list[dict]:
        return [as_dict(r, self.config.incidents) for r in self.db.query(f"{SELECT} ORDER BY id")]


@pytest.fixture
def rig(tmp_path, store_url):  # noqa: F811
    r = Rig(tmp_path, store_url)
    yield r
    r.db.close()


def test_migrations_run_once_and_leave_the_schema_version(rig):
    assert rig.db.migrate() == len(MIGRATIONS)  # a second start: nothing to do, same version
    assert rig.db.query("SELECT max(version) FROM schema_version")[0][0] == len(MIGRATIONS)


def test_each_message_is_stored_once_and_every_delivery_gets_a_receipt(rig):
    m = lifecycle("v1", "warning")
    rig.feed(m)
    rig.feed(m)  # a redelivery: the node may have missed the first receipt
    rig.feed(m, lifecycle("v1", "alert"))
    assert rig.db.query("SELECT id, stage FROM messages ORDER BY stage") == [("v1", "alert"), ("v1", "warning")]
    assert sorted(rig.receipts()) == [("v1", "alert"), ("v1", "warning"), ("v1", "warning"), ("v1", "warning")]
    assert all(t == "edge/n1/receipt" for t, _ in rig.sent)
    assert rig.ingest.duplicates == 2


def test_malformed_and_misaddressed_messages_are_refused_not_stored(rig):
    rig.feed(lifecycle("v1", "alert"), topic="edge/n1/alert", raw=b"{not json")
    bad = lifecycle("v2", "alert")
    bad["stage"] = "maybe"
    rig.feed(bad)
    rig.feed(lifecycle("v3", "alert", node="n2"), topic="edge/n1/alert")  # n1 speaking for n2
    assert rig.db.query("SELECT count(*) FROM messages")[0][0] == 0
    assert rig.ingest.bad.total == 3 and rig.sent == []


def test_lifecycle_and_repeats_within_the_window_form_one_incident(rig):
    now = time.time()
    rig.feed(lifecycle("v1", "warning", t=now), lifecycle("v1", "alert", t=now + 5), lifecycle("v1", "cleared", t=now + 9))
    rig.feed(lifecycle("v2", "alert", t=now + 60))  # the same angler back a minute later: same incident
    rig.feed(lifecycle("v3", "alert", zone="jetty", t=now + 61))  # another zone: another incident
    rig.feed(lifecycle("v4", "alert", t=now + 60 + 700))  # after the window: a new one
    incidents = rig.incidents()
    assert [(i["zone"], i["violations"], i["messages"], i["level"]) for i in incidents] == [
        ("shore", 2, 4, "alert"), ("jetty", 1, 1, "alert"), ("shore", 1, 1, "alert")]
    assert rig.db.query("SELECT count(DISTINCT incident) FROM messages WHERE id IN ('v1', 'v2')")[0][0] == 1


def test_every_transition_is_an_audit_record_and_forbidden_ones_are_refused(rig):
    rig.feed(lifecycle("v1", "alert"))
    (inc,) = rig.incidents()
    path = ["acknowledged", "dispatched", "on_scene", "resolved", "closed"]
    for state in path:
        with rig.db.tx() as t:
            transition(t, inc["id"], state, "user:alice", f"to {state}")
    with pytest.raises(TransitionError), rig.db.tx() as t:
        transition(t, inc["id"], "new", "user:alice")
    with rig.db.tx() as t:
        rows = t.execute("SELECT actor, from_state, to_state, comment FROM audit WHERE incident = ? ORDER BY id",
                         (inc["id"],))
    assert rows[0][:3] == ("node:n1", None, "new")
    assert [(r[1], r[2]) for r in rows[1:]] == list(zip(["new", *path[:-1]], path, strict=True))
    assert all(r[0] == "user:alice" for r in rows[1:])
    done = rig.incidents()[0]
    assert done["state"] == "closed" and done["acknowledged_at"] <= done["dispatched_at"] <= done["closed_at"]


def test_dismissal_needs_a_reason_code(rig):
    rig.feed(lifecycle("v1", "alert"))
    (inc,) = rig.incidents()
    with pytest.raises(TransitionError, match="reason"), rig.db.tx() as t:
        transition(t, inc["id"], "dismissed", "user:bob")
    with rig.db.tx() as t:
        transition(t, inc["id"], "dismissed", "user:bob", "a heron", reason="wrong_object")
    assert rig.incidents()[0]["dismiss_reason"] == "wrong_object"
    assert rig.incidents()[0]["overdue"] is False


def test_time_targets_flag_what_is_overdue(tmp_path, store_url):  # noqa: F811
    rig = Rig(tmp_path, store_url, ack_s=0.5)
    rig.feed(lifecycle("v1", "alert"), lifecycle("v2", "alert", zone="jetty"))
    first, second = rig.incidents()
    with rig.db.tx() as t:
        transition(t, first["id"], "acknowledged", "user:a")
    time.sleep(0.7)
    first, second = rig.incidents()
    assert first["targets"]["acknowledge"]["met"] is True and not first["targets"]["acknowledge"]["overdue"]
    assert second["targets"]["acknowledge"]["overdue"] is True and second["overdue"] is True
    assert first["targets"]["on_scene"]["target_s"] == 900 and not first["targets"]["on_scene"]["overdue"]
    rig.db.close()
