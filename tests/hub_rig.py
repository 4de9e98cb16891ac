"""Pieces the hub-service tests share: lifecycle messages as a node sends them, a hub.toml, a store
on SQLite or the session's PostgreSQL, and one mosquitto for the whole session."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.crypto import generate_keypair

_db_names = itertools.count()
_prefixes = itertools.count()


def unique_prefix() -> str:
    """A topic prefix of its own for each test: they share one broker."""
    return f"t{next(_prefixes)}x{int(time.time() * 1000) % 10**7}"


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def lifecycle(vid: str, stage: str, *, node: str = "n1", rule: str = "no_fishing", zone: str = "shore",
              t: float | None = None, lat: float | None = 30.0, lon: float | None = 120.0,
              evidence: str | None = None) -> dict:
    t = time.time() if t is None else t
    return {"id": vid, "node": node, "rule": rule, "kind": "fishing", "stage": stage, "zone": zone,
            "started_at": iso(t - 5), "warned_at": iso(t - 3), "confirmed_at": iso(t) if stage != "warning" else None,
            "ended_at": iso(t) if stage == "cleared" else None, "ts": iso(t),
            "objects": [{"track": 1, "class": "person", "box": [0.1, 0.2, 0.3, 0.4], "score": 0.9}],
            "confidence": 0.9, "location": {"lat": lat, "lon": lon} if lat is not None else None,
            "snapshot": None, "evidence": evidence, "version": "test"}


HUB_TOML = """
[hub]
prefix = "{prefix}"
data_dir = "{data}"
key_file = "hub.key"
log_level = "INFO"

[broker]
address = "127.0.0.1:{port}"
client_id = "{client_id}"
share_group = "{group}"

[store]
url = "{url}"

[api]
listen = "127.0.0.1:{api_port}"
login_attempts_per_minute = 5
{api_extra}

[incidents]
group_window_s = 600
targets = {{ acknowledge_s = {ack_s}, dispatch_s = 300, on_scene_s = 900 }}

[dispatch]
speed_kmh = 18
"""


def write_config(folder: Path, *, url: str, broker_port: int = 1883, api_port: int = 0, client_id: str = "hub-1",
                 ack_s: float = 120, prefix: str = "edge", group: str = "hub", api_extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "hub.key").exists():
        generate_keypair(folder / "hub.key", folder / "hub.pub")
    path = folder / "hub.toml"
    path.write_text(HUB_TOML.format(data=folder, port=broker_port, client_id=client_id, url=url, api_port=api_port,
                                    ack_s=ack_s, prefix=prefix, group=group, api_extra=api_extra))
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path) -> str:
    """Each test that takes it runs twice: on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "hub.db")
    server = request.getfixturevalue("postgres")
    return server.create_db(f"t{next(_db_names)}_{int(time.time() * 1000) % 10**8}")


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory):
    """One mosquitto for every hub-service test; tests keep apart by node ids and client ids."""
    from .broker import Broker

    broker = Broker(tmp_path_factory.mktemp("hub-broker")).start()
    yield broker
    broker.stop()


class RunningHub:
    """`edge-hub serve` in this process (the same builder the command uses), API on a free port."""

    def __init__(self, folder: Path, broker, url: str, **kw):
        import threading

        from edge.hub.service.config import load_config
        from edge.hub.service.service import HubService

        from .conftest import free_port

        self.prefix = kw.pop("prefix", None) or unique_prefix()
        self.api_port = free_port()
        self.folder = folder
        self.config = load_config(write_config(folder, url=url, broker_port=broker.port, api_port=self.api_port,
                                               client_id=f"{self.prefix}-hub", prefix=self.prefix, group=self.prefix,
                                               **kw))
        self.service = HubService(self.config)
        self.service.start()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.service.run, args=(self._stop,), daemon=True)
        self._thread.start()
        self.base = f"{'https' if self.config.api.tls_cert else 'http'}://127.0.0.1:{self.api_port}"

    @property
    def db(self):
        return self.service.db

    def client(self, user: str | None = None, role: str = "dispatcher", password: str = "correct horse 1",
               verify=True):
        """An HTTP client; signed in as a new user with `role` when `user` is given (CSRF header set)."""
        import httpx

        from edge.hub.service import auth

        c = httpx.Client(base_url=self.base, timeout=10, verify=verify)
        if user is not None:
            auth.add_user(self.db, user, password, role)
            r = c.post("/api/login", json={"username": user, "password": password})
            assert r.status_code == 200, r.text
            c.headers["X-CSRF-Token"] = r.json()["csrf"]
        return c

    def wait(self, predicate, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return bool(predicate())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.service.stop()


class Publisher:
    """A plain MQTT client publishing as a node (or an officer's device) would."""

    def __init__(self, broker, client_id: str):
        import paho.mqtt.client as mqtt

        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def send(self, topic: str, payload) -> None:
        import json

        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.client.publish(topic, data, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def hub(tmp_path, mosquitto):
    h = RunningHub(tmp_path / "hub", mosquitto, str(tmp_path / "hub" / "hub.db"))
    yield h
    h.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def hub_any(request, tmp_path, mosquitto):
    """The running hub on each store: a SQLite file, then a fresh database on the session's PostgreSQL."""
    if request.param == "sqlite":
        url = str(tmp_path / "hub" / "hub.db")
    else:
        url = request.getfixturevalue("postgres").create_db(f"h{next(_db_names)}_{int(time.time() * 1000) % 10**8}")
    h = RunningHub(tmp_path / "hub", mosquitto, url)
    yield h
    h.stop()
