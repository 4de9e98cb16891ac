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

[incidents]
group_window_s = 600
targets = {{ acknowledge_s = {ack_s}, dispatch_s = 300, on_scene_s = 900 }}

[dispatch]
speed_kmh = 18
"""


def write_config(folder: Path, *, url: str, broker_port: int = 1883, api_port: int = 0, client_id: str = "hub-1",
                 ack_s: float = 120, prefix: str = "edge", group: str = "hub") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "hub.key").exists():
        generate_keypair(folder / "hub.key", folder / "hub.pub")
    path = folder / "hub.toml"
    path.write_text(HUB_TOML.format(data=folder, port=broker_port, client_id=client_id, url=url, api_port=api_port,
                                    ack_s=ack_s, prefix=prefix, group=group))
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
