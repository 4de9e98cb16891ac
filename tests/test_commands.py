"""Signed commands over a real broker: what is run, what is refused, and that every one is answered."""

from __future__ import annotations

import json
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.config import load_profile
from edge.crypto import canonical_json, generate_keypair, load_private_key
from edge.link import NodeLink
from edge.link.commands import make_command

from .broker import Broker, Subscriber
from .test_link import write_profile


@pytest.fixture
def rig(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    state = tmp_path / "state"
    hub_key = generate_keypair(tmp_path / "hub.key", state / "keys" / "hub.pub")
    other_key = generate_keypair(tmp_path / "other.key", tmp_path / "other.pub")
    hub = Subscriber(broker, ["edge/+/cmd_result"]).wait_ready()
    rig = Rig(tmp_path, broker, state, hub, hub_key, other_key)
    rig.start_node()
    yield rig
    rig.stop_node()
    hub.close()
    broker.stop()


class Rig:
    def __init__(self, tmp_path, broker, state, hub, hub_key, other_key):
        self.tmp_path, self.broker, self.state, self.hub = tmp_path, broker, state, hub
        self.hub_key, self.other_key = hub_key, other_key
        self.link: NodeLink | None = None

    def start_node(self):
        profile = load_profile(write_profile(self.tmp_path, self.broker))
        self.link = NodeLink(profile, self.state, "test")
        self.link.router.register("ping", lambda c, reply: reply(True, None, {"pong": c.args.get("n")}))
        self.link.start()
        assert self.link.mqtt.connected.wait(10)
        time.sleep(0.3)  # subscribed
        self._stop = threading.Event()
        self._runner = threading.Thread(target=self._run, daemon=True)
        self._runner.start()

    def _run(self):
        while not self._stop.is_set():
            self.link.run_commands()
            time.sleep(0.01)

    def stop_node(self):
        self._stop.set()
        self._runner.join(5)
        self.link.stop()

    def send(self, envelope, name: str | None = None, node: str = "n1") -> None:
        payload = envelope if isinstance(envelope, bytes) else json.dumps(envelope).encode()
        name = name or (envelope["name"] if isinstance(envelope, dict) else "ping")
        self.hub.client.publish(f"edge/{node}/cmd/{name}", payload, qos=1)

    def results(self) -> list[dict]:
        return [json.loads(p) for t, p, _ in self.hub.messages if t.endswith("/cmd_result")]

    def result_for(self, command_id, timeout: float = 10.0) -> dict:
        assert self.hub.wait_for(lambda m: any(r["id"] == command_id for r in self.results()), timeout), command_id
        return next(r for r in self.results() if r["id"] == command_id)


def test_a_signed_ping_is_run(rig):
    cmd = make_command(rig.hub_key, "n1", "ping", {"n": 7})
    rig.send(cmd)
    result = rig.result_for(cmd["id"])
    assert result["ok"] is True and result["data"] == {"pong": 7} and "error" not in result


def refused(rig, envelope, *, name=None, expect: str) -> None:
    rig.send(envelope, name=name)
    cid = envelope.get("id") if isinstance(envelope, dict) else None
    assert rig.hub.wait_for(lambda m: any(r["id"] == cid and not r["ok"] for r in rig.results()), 10), expect
    result = [r for r in rig.results() if r["id"] == cid][-1]
    assert result["ok"] is False and expect in result["error"], result


def test_unsigned_badly_signed_expired_replayed_and_misaddressed_commands_are_refused(rig):
    unsigned = make_command(rig.hub_key, "n1", "ping")
    del unsigned["sig"]
    refused(rig, unsigned, expect="unsigned")
    refused(rig, make_command(rig.other_key, "n1", "ping"), expect="bad signature")
    tampered = make_command(rig.hub_key, "n1", "ping", {"n": 1})
    tampered["args"] = {"n": 2}
    refused(rig, tampered, expect="bad signature")
    refused(rig, make_command(rig.hub_key, "n1", "ping", now=time.time() - 600, lifetime_s=60), expect="expired")
    refused(rig, make_command(rig.hub_key, "n1", "ping", now=time.time() + 3600), expect="issued in the future")
    refused(rig, make_command(rig.hub_key, "n1", "ping", lifetime_s=86400), expect="valid for longer")
    refused(rig, make_command(rig.hub_key, "n2", "ping"), expect="addressed to node 'n2'")
    refused(rig, make_command(rig.hub_key, "n1", "ping"), name="zone", expect="arrived on the topic")
    refused(rig, make_command(rig.hub_key, "n1", "reboot"), expect="unknown command 'reboot'")
    once = make_command(rig.hub_key, "n1", "ping")
    rig.send(once)
    assert rig.result_for(once["id"])["ok"]
    refused(rig, once, expect="replayed")
    rig.send(b"{not json", name="ping")
    assert rig.hub.wait_for(lambda m: any(r["id"] is None and "not JSON" in r["error"] for r in rig.results()))


def test_the_replay_cache_survives_a_restart(rig):
    cmd = make_command(rig.hub_key, "n1", "ping")
    rig.send(cmd)
    assert rig.result_for(cmd["id"])["ok"]
    rig.stop_node()
    rig.start_node()
    refused(rig, cmd, expect="replayed")


def test_every_command_gets_exactly_one_result(rig):
    sent = [make_command(rig.hub_key, "n1", "ping", {"n": i}) for i in range(40)]
    sent += [make_command(rig.other_key, "n1", "ping") for _ in range(10)]
    for cmd in sent:
        rig.send(cmd)
    ids = [c["id"] for c in sent]
    assert rig.hub.wait_for(lambda m: {r["id"] for r in rig.results()} >= set(ids), 20)
    time.sleep(0.5)
    counts = [sum(1 for r in rig.results() if r["id"] == i) for i in ids]
    assert counts == [1] * len(ids)
    assert sum(r["ok"] for r in rig.results()) == 40


def test_deep_nesting_huge_and_garbage_payloads_get_exactly_one_result_each(rig):
    """Limits are checked before parsing: 5,000 nested brackets once went unanswered (RecursionError)."""
    deep_array = b"[" * 5000 + b"]" * 5000
    deep_args = json.dumps({"id": "deep-args", "node": "n1", "name": "ping"})[:-1].encode() + \
        b', "args": ' + b'{"a": ' * 3000 + b"1" + b"}" * 3000 + b"}"
    huge = json.dumps({"id": "huge", "pad": "x" * (300 * 1024)}).encode()
    strings = json.dumps({"id": "brackets-in-strings", "s": "[" * 5000}).encode()  # not nesting
    for payload in (deep_array, deep_args, huge, b"\xff\xfe garbage", strings, b"[" * 100_000):
        rig.send(payload, name="ping")
    expected = 6
    assert rig.hub.wait_for(lambda m: len(rig.results()) >= expected, 20), rig.results()
    time.sleep(0.5)
    results = rig.results()
    assert len(results) == expected, "exactly one result each"
    assert all(not r["ok"] for r in results)
    errors = " | ".join(r["error"] for r in results)
    assert errors.count("nested deeper than") == 3 and "larger than" in errors and "not JSON" in errors
    assert [r for r in results if r["id"] == "brackets-in-strings"][0]["error"] == "unsigned"


def test_nesting_depth_ignores_brackets_in_strings():
    from edge.link.commands import nesting_depth

    assert nesting_depth(b'{"a": [1, {"b": "[[[{{{"}]}') == 3
    assert nesting_depth(b'{"a": "\\"}[[["}') == 1  # an escaped backslash ends before the quote
    assert nesting_depth(b"[" * 1000, limit=32) == 33  # stops counting past the limit


def test_canonical_encoding_is_stable():
    assert canonical_json({"b": 1, "a": "中"}) == '{"a":"中","b":1}'.encode()


# --- fuzzing: no payload can crash the node, and each gets one answer --------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20)


@pytest.fixture(scope="module")
def offline_link(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    state = tmp / "state"
    key = generate_keypair(tmp / "hub.key", state / "keys" / "hub.pub")
    (tmp / "p.toml").write_text('[node]\nid = "n1"\nkind = "camera"\n[capture]\nsource = "usb:0"\n'
                                '[link]\nhost = "127.0.0.1"\nport = 9\n')
    link = NodeLink(load_profile(tmp / "p.toml"), state, "test")  # never started: no broker needed
    link.router.register("ping", lambda c, reply: reply(True, None, None))
    yield link, key
    link.outbox.close()


def _answers(link) -> int:
    return sum(1 for row in link.outbox.pending(limit=100_000) if row.kind == "cmd_result")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.binary(max_size=300))
def test_fuzzed_bytes_never_crash_and_are_answered(offline_link, payload):
    link, _ = offline_link
    before = _answers(link)
    link._on_message("edge/n1/cmd/ping", payload)
    link.run_commands()
    assert _answers(link) == before + 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.dictionaries(st.sampled_from(["id", "node", "name", "args", "issued_at", "expires_at", "nonce",
                                                "sig", "extra"]), json_values, max_size=9),
       sign_it=st.booleans())
def test_fuzzed_envelopes_never_crash_and_are_answered(offline_link, fields, sign_it):
    link, key = offline_link
    if sign_it:  # a correctly signed envelope with arbitrary field values
        from edge.crypto import b64, sign

        fields.pop("sig", None)
        try:
            fields["sig"] = b64(sign(key, canonical_json(fields)))
        except (TypeError, ValueError):
            return
    try:
        payload = json.dumps(fields).encode()
    except ValueError:
        return
    before = _answers(link)
    link._on_message("edge/n1/cmd/ping", payload)
    link.run_commands()
    assert _answers(link) == before + 1


def test_hub_key_loads(tmp_path):
    generate_keypair(tmp_path / "k", tmp_path / "k.pub")
    assert load_private_key(tmp_path / "k") is not None
    with pytest.raises(FileExistsError):
        generate_keypair(tmp_path / "k", tmp_path / "k.pub")
    assert oct((tmp_path / "k").stat().st_mode & 0o777) == "0o600"


def test_bad_args_are_refused_by_the_model_naming_the_field_before_any_handler_runs(rig):
    from edge.contract.commands import ZoneArgs

    ran = []
    rig.link.router.register("zone", ZoneArgs, lambda c, reply: (ran.append(c.params), reply(True, None, None)))
    for args, field in (({"zone": "shore", "armed": "yes"}, "armed"), ({"armed": True}, "zone"),
                        ({"zone": "shore", "armed": True, "colour": "red"}, "colour")):
        cmd = make_command(rig.hub_key, "n1", "zone", args)
        rig.send(cmd)
        result = rig.result_for(cmd["id"])
        assert result["ok"] is False and result["error"].startswith(f"bad args: {field}: "), result
        assert "\n" not in result["error"]
    assert ran == []
    good = make_command(rig.hub_key, "n1", "zone", {"zone": "shore", "armed": False})
    rig.send(good)
    assert rig.result_for(good["id"])["ok"] is True
    assert ran == [ZoneArgs(zone="shore", armed=False)]


def test_an_old_argument_name_is_still_accepted_with_a_deprecation_line(rig, caplog):
    from edge.contract.commands import EvidenceHoldArgs

    held = []
    rig.link.router.register("evidence_hold", EvidenceHoldArgs,
                             lambda c, reply: (held.append(c.params), reply(True, None, {"bundle": c.params.bundle})))
    with caplog.at_level("WARNING", logger="edge.link.commands"):
        old = make_command(rig.hub_key, "n1", "evidence_hold", {"id": "b-1", "hold": True})
        rig.send(old)
        assert rig.result_for(old["id"])["ok"] is True
        new = make_command(rig.hub_key, "n1", "evidence_hold", {"bundle": "b-2", "hold": False})
        rig.send(new)
        assert rig.result_for(new["id"])["ok"] is True
    assert held == [EvidenceHoldArgs(bundle="b-1", hold=True), EvidenceHoldArgs(bundle="b-2", hold=False)]
    notes = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert len(notes) == 1 and "'id' is deprecated, use 'bundle'" in notes[0]
