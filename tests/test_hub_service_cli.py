"""`edge-hub check-config`, `serve` start errors and `user add|passwd|list`: clear one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import REPO
from .hub_rig import write_config


def hub_cli(*args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge.cli.hub", *args], capture_output=True, text=True, cwd=REPO,
                          input=stdin, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


def test_check_config_accepts_a_good_file_and_names_each_bad_field(tmp_path):
    good = write_config(tmp_path / "good", url=str(tmp_path / "hub.db"))
    r = hub_cli("check-config", str(good), str(REPO / "firmware_config" / "hub" / "hub.toml"))  # + the shipped one
    assert r.returncode == 0 and r.stdout.count("ok (store SQLite") == 2
    bad = tmp_path / "bad.toml"
    bad.write_text('[broker]\naddress = "nohost"\ncolour = "red"\n[incidents]\ntargets = { on_scene_s = -1 }\n'
                   '[store]\npassword = "hunter2"\n')
    r = hub_cli("check-config", str(good), str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert any(line.startswith(f"{bad}: broker.address: expected HOST:PORT") for line in lines)
    assert f"{bad}: broker.colour: unknown key" in lines
    assert any(line.startswith(f"{bad}: incidents.targets.on_scene_s:") for line in lines)
    assert any(line.startswith(f"{bad}: store:") and "password_env" in line for line in lines)
    r = hub_cli("check-config", str(tmp_path / "missing.toml"))
    assert r.returncode == 2 and r.stderr.strip() == f"{tmp_path / 'missing.toml'}: file: not found"


def test_serve_says_in_one_line_what_is_missing(tmp_path):
    config = write_config(tmp_path / "hub", url="postgresql://nobody@127.0.0.1:1/none", broker_port=1)
    r = hub_cli("serve", "--config", str(config), "--duration", "1")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("edge-hub: cannot connect to PostgreSQL")
    (tmp_path / "hub" / "hub.key").unlink()
    r = hub_cli("serve", "--config", str(config), "--duration", "1")
    assert r.returncode == 2 and "hub.key_file" in r.stderr and "Traceback" not in r.stderr


def test_users_are_added_listed_and_their_password_changed(tmp_path):
    config = write_config(tmp_path / "hub", url=str(tmp_path / "hub.db"))
    assert hub_cli("user", "add", "--config", str(config), "alice", "--role", "dispatcher", "--password-stdin",
                   stdin="s3cret-enough\n").returncode == 0
    r = hub_cli("user", "add", "--config", str(config), "alice", "--password-stdin", stdin="s3cret-enough\n")
    assert r.returncode == 2 and "exists" in r.stderr
    r = hub_cli("user", "add", "--config", str(config), "bob", "--password-stdin", stdin="short\n")
    assert r.returncode == 2 and "at least 8" in r.stderr
    assert hub_cli("user", "passwd", "--config", str(config), "alice", "--role", "admin", "--password-env", "PW",
                   env={"PW": "another-one-9"}).returncode == 0
    assert hub_cli("user", "list", "--config", str(config)).stdout.split() == ["alice", "admin"]
    from edge.hub.service import auth
    from edge.hub.service.db import Database

    db = Database(str(tmp_path / "hub.db"))
    assert auth.authenticate(db, "alice", "another-one-9") == "admin"
    assert auth.authenticate(db, "alice", "s3cret-enough") is None
    stored = db.query("SELECT password_hash FROM users")[0][0]
    assert stored.startswith("$argon2id$") and "another-one-9" not in stored
    db.close()


def test_the_committed_openapi_document_is_the_api_s_own():
    import json

    from edge.hub.service.api.openapi import document

    committed = json.loads((REPO / "docs" / "hub-openapi.json").read_text())
    assert committed == json.loads(json.dumps(document())), \
        "docs/hub-openapi.json is stale: python -m edge.hub.service.api.openapi > docs/hub-openapi.json"
    assert {"/api/incidents", "/api/events", "/api/evidence/{node}/{bundle}/files/{name}"} <= set(committed["paths"])


def test_the_officer_message_schemas_are_generated_from_the_contract(tmp_path):
    import json

    from edge.contract.schemas import GENERATED, write

    write(tmp_path)
    for name in GENERATED:
        assert json.loads((REPO / "docs" / "schemas" / f"{name}.schema.json").read_text()) == \
            json.loads((tmp_path / f"{name}.schema.json").read_text()), "stale: python -m edge.contract.schemas"


def test_the_broker_login_comes_from_provisions_mqtt_env_unless_the_file_says_otherwise(tmp_path, monkeypatch):
    """`edge-hub provision init` writes the hub's broker login as EDGE_HUB_* variables (mqtt.env,
    read by the systemd unit); `serve` takes them as its [broker] defaults, like listen and command."""
    from edge.hub.service.config import load_config

    monkeypatch.setenv("EDGE_HUB_BROKER", "hub.local:8884")
    monkeypatch.setenv("EDGE_HUB_USERNAME", "hub")
    monkeypatch.setenv("EDGE_HUB_TLS_CA", "/etc/edge-hub/mqtt/ca.crt")
    monkeypatch.setenv("EDGE_HUB_PASSWORD_ENV", "EDGE_HUB_MQTT_PASSWORD")
    bare = tmp_path / "bare.toml"
    bare.write_text("")
    broker = load_config(bare).broker
    assert (broker.address, broker.username, broker.tls_ca, broker.password_env) == (
        "hub.local:8884", "hub", "/etc/edge-hub/mqtt/ca.crt", "EDGE_HUB_MQTT_PASSWORD")
    explicit = tmp_path / "explicit.toml"
    explicit.write_text('[broker]\naddress = "127.0.0.1:1883"\nusername = "other"\n')
    broker = load_config(explicit).broker
    assert (broker.address, broker.username, broker.tls_ca) == ("127.0.0.1:1883", "other", "/etc/edge-hub/mqtt/ca.crt")
