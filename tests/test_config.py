"""Device profiles: every shipped profile passes; each kind of mistake is named by its field path."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from edge.config import ConfigError, load_profile
from edge.config.base import INLINE_SECRET_KEYS

from .conftest import PROFILES, REPO, run_cli

SHIPPED = sorted(PROFILES.glob("*.toml"))

BASE = """
[node]
id = "test-01"
kind = "camera"

[capture]
source = "usb:0"

[[zones]]
name = "shore"
polygon = [[0.0, 0.6], [1.0, 0.6], [1.0, 0.8], [0.0, 0.8]]
classes = ["person", "fishing_rod"]

[[rules]]
name = "no_fishing"
kind = "fishing"
zones = ["shore"]
dwell_s = 20
"""


def write(tmp_path: Path, text: str, name: str = "profile.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    return info.value.lines()


def test_every_device_kind_has_a_profile():
    kinds = {tomllib.loads(p.read_text())["node"]["kind"] for p in SHIPPED}
    assert {"camera", "drone", "dock"} <= kinds
    assert {"reservoir.toml", "market.toml", "drone.toml", "dock.toml"} <= {p.name for p in SHIPPED}


def test_check_config_accepts_every_shipped_profile():
    result = run_cli("edge-node", "check-config", *map(str, SHIPPED))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok") == len(SHIPPED)


def test_the_base_profile_is_valid(tmp_path):
    profile = load_profile(write(tmp_path, BASE))
    assert profile.node.id == "test-01"
    assert profile.rule_classes(profile.rules[0]) == ("person", "fishing_rod")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        # wrong type
        (lambda t: t.replace('source = "usb:0"', 'source = "usb:0"\nfps = "fast"'),
         "capture.fps: input should be a valid number"),
        # unknown key
        (lambda t: t.replace('source = "usb:0"', 'source = "usb:0"\nfsp = 5'), "capture.fsp: unknown key"),
        # a polygon with two points
        (lambda t: t.replace("[[0.0, 0.6], [1.0, 0.6], [1.0, 0.8], [0.0, 0.8]]", "[[0.0, 0.6], [1.0, 0.6]]"),
         "zones[0].polygon: a polygon needs at least 3 points, got 2"),
        # a polygon on one line
        (lambda t: t.replace("[[0.0, 0.6], [1.0, 0.6], [1.0, 0.8], [0.0, 0.8]]", "[[0, 0], [0.5, 0.5], [1, 1]]"),
         "zones[0].polygon: the polygon has no area"),
        # a polygon outside the image
        (lambda t: t.replace("[1.0, 0.8], [0.0, 0.8]]", "[1.0, 1.8], [0.0, 0.8]]"),
         "zones[0].polygon: point 2 (1.0, 1.8) is outside the image"),
        # a zone naming an unknown class
        (lambda t: t.replace('classes = ["person", "fishing_rod"]', 'classes = ["person", "fishing-pole"]'),
         "zones[0].classes[1]: unknown class 'fishing-pole'"),
        # a rule naming an unknown zone
        (lambda t: t.replace('zones = ["shore"]', 'zones = ["bank"]'), "rules[0].zones[0]: unknown zone 'bank'"),
        # an unknown rule kind
        (lambda t: t.replace('kind = "fishing"', 'kind = "littering"'), "rules[0].kind: input should be"),
        # a missing referenced file
        (lambda t: t.replace('source = "usb:0"', 'source = "file:videos/missing.mp4"'),
         "capture.source: not found: videos/missing.mp4"),
        (lambda t: t + '\n[link]\ntls = { ca_file = "certs/ca.crt" }\n', "link.tls.ca_file: not found: certs/ca.crt"),
        # a bad source URI
        (lambda t: t.replace('source = "usb:0"', 'source = "webcam:0"'), "capture.source: unknown source 'webcam:0'"),
        # a node id that cannot be an MQTT topic level
        (lambda t: t.replace('id = "test-01"', 'id = "test/01"'), "node.id: 'test/01' is not a node id"),
        (lambda t: t.replace('kind = "camera"', 'kind = "camera"\ntimezone = "Mars/Olympus"'),
         "node.timezone: unknown time zone 'Mars/Olympus'"),
        # a camera without a capture section
        (lambda t: t.replace('[capture]\nsource = "usb:0"\n', ""), "capture: a camera node needs a [capture] section"),
        # a missing required key
        (lambda t: t.replace('id = "test-01"\n', ""), "node.id: required key is missing"),
    ],
)
def test_broken_profiles_name_the_field(tmp_path, edit, expected):
    path = write(tmp_path, edit(BASE))
    lines = problems(path)
    assert any(line.startswith(f"{path}: {expected}") for line in lines), lines


def test_toml_syntax_errors_give_the_line(tmp_path):
    path = write(tmp_path, BASE.replace('kind = "camera"', 'kind = camera'))
    (line,) = problems(path)
    assert line.startswith(f"{path}: line 4: invalid TOML")


@pytest.mark.parametrize("key", sorted(INLINE_SECRET_KEYS))
def test_inline_secrets_are_refused(tmp_path, key):
    path = write(tmp_path, BASE + f'\n[link]\nusername = "test-01"\n{key} = "hunter2"\n')
    (line,) = problems(path)
    assert line.startswith(f"{path}: link: '{key}' would put a secret inline")
    assert "hunter2" not in line


def test_inline_rtsp_password_is_refused_but_an_env_reference_is_fine(tmp_path):
    path = write(tmp_path, BASE.replace('"usb:0"', '"rtsp://admin:hunter2@10.0.0.5/live"'))
    (line,) = problems(path)
    assert "capture.source: the RTSP password is inline" in line and "hunter2" not in line
    path = write(tmp_path, BASE.replace('"usb:0"', '"rtsp://admin:${CAM_PW}@10.0.0.5/live"'))
    assert load_profile(path).capture.source.endswith("@10.0.0.5/live")


def test_every_problem_is_reported_at_once(tmp_path):
    text = BASE.replace('source = "usb:0"', 'source = "usb:0"\nfsp = 5').replace('dwell_s = 20', 'dwell_s = -1')
    path = write(tmp_path, text)
    lines = problems(path)
    assert any("capture.fsp: unknown key" in line for line in lines)
    assert any("rules[0].dwell_s" in line for line in lines)


def test_check_config_cli_exit_code_and_format(tmp_path):
    bad = write(tmp_path, BASE.replace('source = "usb:0"', 'source = "usb:0"\nfsp = 5'), "bad.toml")
    good = write(tmp_path, BASE, "good.toml")
    result = run_cli("edge-node", "check-config", str(good), str(bad))
    assert result.returncode == 2
    assert f"{good}: ok" in result.stdout
    assert result.stderr.strip().splitlines() == [f"{bad}: capture.fsp: unknown key"]
    missing = run_cli("edge-node", "check-config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"{tmp_path / 'nope.toml'}: file: not found"


def test_profile_paths_are_relative_to_the_profile(tmp_path):
    (tmp_path / "clips").mkdir()
    video = tmp_path / "clips" / "a.mp4"
    video.write_bytes(b"")
    sub = tmp_path / "profiles"
    sub.mkdir()
    path = write(sub, BASE.replace('"usb:0"', '"file:../clips/a.mp4?loop=1"'))
    profile = load_profile(path)
    assert profile.source_uri() == f"file:{(sub / '../clips/a.mp4').as_posix()}?loop=1"


def test_shipped_profiles_hold_no_secrets():
    """No committed file under firmware_config/ may carry a password, key or token inline."""
    def keys(node, where=""):
        if isinstance(node, dict):
            for key, value in node.items():
                yield f"{where}{key}", key
                yield from keys(value, f"{where}{key}.")
        elif isinstance(node, list):
            for item in node:
                yield from keys(item, where)

    for path in SHIPPED:
        for dotted, key in keys(tomllib.loads(path.read_text())):
            assert key.lower() not in INLINE_SECRET_KEYS, f"{path}: {dotted}"
    assert not list((REPO / "firmware_config").rglob("*.key")) and not list((REPO / "firmware_config").rglob("*.pem"))
