"""The hub's HTTP API over a running service: auth and roles, CSRF, login rate limit, incidents from
real MQTT messages, transitions, validation errors naming the field, the SSE stream, bad input."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from .hub_rig import Publisher, hub, lifecycle  # noqa: F401


def _alert(hub, pub, vid, stage="alert", **kw):  # noqa: F811
    pub.send(f"{hub.prefix}/n1/alert", lifecycle(vid, stage, **kw))


def test_no_session_is_401_and_cookies_are_httponly_samesite(hub):  # noqa: F811
    anon = hub.client()
    assert anon.get("/api/incidents").status_code == 401
    assert anon.post("/api/incidents/1/transition", json={"to": "acknowledged"}).status_code == 401
    from edge.hub.service import auth

    auth.add_user(hub.db, "ann", "a long password", "viewer")
    r = anon.post("/api/login", json={"username": "ann", "password": "a long password"})
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("edge_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert anon.get("/api/me").json() == {"user": "ann", "role": "viewer"}
    assert anon.post("/api/login", json={"username": "ann", "password": "wrong password"}).status_code == 401


def test_login_attempts_are_rate_limited(hub):  # noqa: F811
    c = hub.client()
    codes = [c.post("/api/login", json={"username": "mallory", "password": f"guess {i}"}).status_code
             for i in range(7)]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]


def test_viewer_cannot_dispatch_and_csrf_is_required(hub):  # noqa: F811
    viewer = hub.client("vera", "viewer")
    disp = hub.client("dan", "dispatcher")
    p = _publisher(hub)
    _alert(hub, p, "v1")
    assert hub.wait(lambda: viewer.get("/api/incidents").json()["total"] == 1)
    inc = viewer.get("/api/incidents").json()["items"][0]["id"]
    r = viewer.post(f"/api/incidents/{inc}/transition", json={"to": "acknowledged"})
    assert r.status_code == 403 and "dispatcher" in r.json()["detail"]
    no_csrf = httpx.Client(base_url=hub.base, cookies=disp.cookies)
    r = no_csrf.post(f"/api/incidents/{inc}/transition", json={"to": "acknowledged"})
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    r = disp.post(f"/api/incidents/{inc}/transition", json={"to": "acknowledged", "comment": "seen"})
    assert r.status_code == 200 and r.json()["to"] == "acknowledged"
    detail = viewer.get(f"/api/incidents/{inc}").json()
    assert [(a["actor"], a["from"], a["to"]) for a in detail["audit"]] == [
        ("node:n1", None, "new"), ("user:dan", "new", "acknowledged")]
    assert detail["messages"][0]["id"] == "v1"
    p.close()


_pubs = iter(range(10**6))


def _publisher(hub) -> Publisher:  # noqa: F811
    class B:
        port = int(hub.config.broker.address.rpartition(":")[2])
    return Publisher(B, f"{hub.prefix}-pub{next(_pubs)}")


def test_api_input_errors_name_the_field(hub):  # noqa: F811
    disp = hub.client("dan", "dispatcher")
    p = _publisher(hub)
    _alert(hub, p, "v1")
    assert hub.wait(lambda: disp.get("/api/incidents").json()["total"] == 1)
    inc = disp.get("/api/incidents").json()["items"][0]["id"]
    r = disp.post(f"/api/incidents/{inc}/transition", json={"to": "flying"})
    assert r.status_code == 422 and r.json()["detail"].startswith("body.to:")
    r = disp.post(f"/api/incidents/{inc}/transition", json={"to": "dismissed"})
    assert r.status_code == 422 and r.json()["detail"].startswith("reason:")
    r = disp.post(f"/api/incidents/{inc}/transition", json={"to": "closed"})
    assert r.status_code == 409  # new -> closed skips the work
    r = disp.post("/api/nodes/n1/commands", json={"name": "speak", "args": {"volume": 3}})
    assert r.status_code == 422 and r.json()["detail"].startswith("args.volume:")
    assert disp.get("/api/incidents", params={"limit": 0}).status_code == 422
    p.close()


def test_bad_messages_are_counted_never_stored_and_the_service_goes_on(hub):  # noqa: F811
    v = hub.client("vera", "viewer")
    p = _publisher(hub)
    p.send(f"{hub.prefix}/n1/alert", b"\xff not json")
    p.send(f"{hub.prefix}/n1/alert", {"id": "x", "stage": "alert"})
    p.send(f"{hub.prefix}/n1/cmd_result", {"id": 5})
    p.send(f"{hub.prefix}/officer/ghost/position", {"lat": 1, "lon": 2, "ts": "2026-01-01T00:00:00+00:00"})
    _alert(hub, p, "good")
    assert hub.wait(lambda: v.get("/api/incidents").json()["total"] == 1)
    health = v.get("/api/health").json()
    assert health["refused"] == 4 and health["stored"] == 1
    assert hub.db.query("SELECT id FROM messages") == [("good",)]
    p.close()


def test_incident_list_filters_and_the_event_stream_shows_new_ones(hub):  # noqa: F811
    v = hub.client("vera", "viewer")
    got: list[tuple[str, dict]] = []
    ready = threading.Event()

    def listen():
        with httpx.Client(base_url=hub.base, cookies=v.cookies, timeout=30) as c, \
                c.stream("GET", "/api/events") as r:
            ready.set()
            kind = None
            for line in r.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    got.append((kind, json.loads(line[6:])))
                    if len(got) >= 2:
                        return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    assert ready.wait(10)
    time.sleep(0.3)
    p = _publisher(hub)
    _alert(hub, p, "v1", zone="shore")
    _alert(hub, p, "v2", zone="jetty", stage="warning")
    t.join(20)
    assert [k for k, _ in got] == ["incident", "incident"] and {d["violation"] for _, d in got} == {"v1", "v2"}
    assert v.get("/api/incidents", params={"level": "alert"}).json()["total"] == 1
    assert v.get("/api/incidents", params={"state": ["new"]}).json()["total"] == 2
    assert v.get("/api/incidents", params={"state": ["closed"]}).json()["total"] == 0
    assert v.get("/api/incidents", params={"node": "other"}).json()["total"] == 0
    stats = v.get("/api/stats").json()
    assert stats["incidents"] == 2 and {r["rule"] for r in stats["per_day"]} == {"no_fishing"}
    p.close()


def test_the_api_is_served_over_https_when_given_a_certificate(tmp_path, mosquitto):
    import ssl

    from .broker import Pki
    from .hub_rig import RunningHub

    pki = Pki(tmp_path / "pki")
    cert, key = pki.client("hub-web", server=True)
    h = RunningHub(tmp_path / "hub", mosquitto, str(tmp_path / "hub" / "hub.db"),
                   api_extra=f'tls_cert = "{cert}"\ntls_key = "{key}"')
    try:
        assert h.base.startswith("https://")
        c = h.client(verify=ssl.create_default_context(cafile=str(pki.ca_file)))
        assert c.get("/api/health").json()["ok"] is True
        from edge.hub.service import auth

        auth.add_user(h.db, "ann", "a long password", "viewer")
        r = c.post("/api/login", json={"username": "ann", "password": "a long password"})
        cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("edge_session="))
        assert "Secure" in cookie and "HttpOnly" in cookie
        with pytest.raises(httpx.ConnectError):  # a client that does not trust the certificate
            httpx.get(f"{h.base}/api/health", timeout=5)
    finally:
        h.stop()


def test_a_poison_message_the_database_refuses_does_not_block_the_others(tmp_path, mosquitto, postgres):
    """PostgreSQL text cannot hold NUL: such a message is refused alone, the rest of its batch is stored."""
    from .hub_rig import RunningHub

    h = RunningHub(tmp_path / "hub", mosquitto, postgres.create_db(f"poison{int(time.time())}"))
    try:
        v = h.client("vera", "viewer")
        p = _publisher(h)
        poison = lifecycle("bad", "alert", zone="sho\u0000re")
        for m in (lifecycle("a", "alert", zone="z1"), poison, lifecycle("b", "alert", zone="z2")):
            p.send(f"{h.prefix}/n1/alert", m)
        assert h.wait(lambda: v.get("/api/incidents").json()["total"] == 2)
        assert h.wait(lambda: v.get("/api/health").json()["refused"] == 1)
        _alert(h, p, "c", zone="z3")  # and it goes on
        assert h.wait(lambda: v.get("/api/incidents").json()["total"] == 3)
        assert sorted(r[0] for r in h.db.query("SELECT id FROM messages")) == ["a", "b", "c"]
        p.close()
    finally:
        h.stop()


def test_overdue_incidents_are_flagged_and_filtered(tmp_path, mosquitto):
    from .hub_rig import RunningHub

    h = RunningHub(tmp_path / "hub", mosquitto, str(tmp_path / "hub" / "hub.db"), ack_s=1.0)
    try:
        d = h.client("dan", "dispatcher")
        p = _publisher(h)
        _alert(h, p, "v1", zone="z1")
        _alert(h, p, "v2", zone="z2")
        assert h.wait(lambda: d.get("/api/incidents").json()["total"] == 2)
        first = d.get("/api/incidents").json()["items"][-1]["id"]
        assert d.post(f"/api/incidents/{first}/transition", json={"to": "acknowledged"}).status_code == 200
        assert d.get("/api/incidents", params={"overdue": True}).json()["total"] == 0
        time.sleep(1.2)
        late = d.get("/api/incidents", params={"overdue": True}).json()
        assert late["total"] == 1 and late["items"][0]["id"] != first
        assert late["items"][0]["targets"]["acknowledge"]["overdue"] is True
        assert d.get("/api/incidents", params={"overdue": False}).json()["items"][0]["id"] == first
        p.close()
    finally:
        h.stop()


def test_the_hub_serves_released_model_folders_to_the_nodes_resumably(hub, tmp_path):  # noqa: F811
    import hashlib

    from edge.rollout.fetch import fetch

    folder = hub.config.path(hub.config.models.dir) / "fishing-ft"
    folder.mkdir(parents=True)
    weights = bytes(range(256)) * 4096  # 1 MiB standing in for model.onnx: the node checks only the hash
    (folder / "model.onnx").write_bytes(weights)
    (folder / "secret.key").write_bytes(b"not a model file")
    sha = hashlib.sha256(weights).hexdigest()
    url = f"{hub.base}/models/fishing-ft/model.onnx"
    target = tmp_path / "node" / "model.onnx"
    target.parent.mkdir()
    target.with_name("model.onnx.part").write_bytes(weights[:300_000])  # an interrupted earlier download
    assert fetch(url, target, sha).read_bytes() == weights  # resumed with a Range request, then checked
    anon = hub.client()
    r = anon.get("/models/fishing-ft/model.onnx", headers={"Range": "bytes=1000-1009"})
    assert r.status_code == 206 and r.content == weights[1000:1010]
    for path in ("/models/fishing-ft/secret.key", "/models/..%2Fetc/model.onnx", "/models/nope/model.onnx"):
        assert anon.get(path).status_code == 404, path


def test_a_stopping_hub_ends_its_event_streams_instead_of_cancelling_them(tmp_path, mosquitto, caplog):  # noqa: F811
    """An open console's event stream must not hold the shutdown for uvicorn's grace period and then be
    cancelled mid-response (a CancelledError in the log at every restart): the stream ends cleanly."""
    from .hub_rig import RunningHub

    h = RunningHub(tmp_path / "hub", mosquitto, str(tmp_path / "hub" / "hub.db"))
    v = h.client("vera", "viewer")
    ended, ready = [], threading.Event()

    def listen():
        try:
            with httpx.Client(base_url=h.base, cookies=v.cookies, timeout=30) as c, \
                    c.stream("GET", "/api/events") as r:
                ready.set()
                for _ in r.iter_lines():
                    pass
            ended.append("clean")
        except httpx.HTTPError as exc:
            ended.append(f"{type(exc).__name__}: {exc}")

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    assert ready.wait(10)
    time.sleep(0.5)
    with caplog.at_level("INFO"):
        h.stop()
    t.join(10)
    assert ended == ["clean"]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "graceful shutdown exceeded" not in logged and "CancelledError" not in logged, logged
