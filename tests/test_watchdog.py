"""systemd integration: sd_notify over real unix datagram sockets, the progress watchdog, the unit file."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import numpy as np
import pytest

from edge.capture.base import Capture, FrameSource
from edge.config import load_profile
from edge.node import Node
from edge.watchdog import Notifier, Watchdog, stall_limit_s, watchdog_interval_s

from .conftest import BIN, PROFILES, REPO

UNIT = PROFILES / "systemd" / "edge-node@.service"


class NotifySocket:
    """What systemd listens on: a unix datagram socket (a path, or a name in the abstract namespace),
    read continuously on a thread as systemd does (the node never waits for a full receiver)."""

    def __init__(self, abstract: bool = False):
        self._dir = tempfile.mkdtemp(prefix="sdn-", dir="/tmp")  # sun_path is short: keep the path short
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"edge-test-{os.getpid()}-{id(self)}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = os.path.join(self._dir, "notify")
            self.sock.bind(self.address)
        self.sock.settimeout(0.05)
        self.messages: list[str] = []
        self._seen = 0
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
            except OSError:
                return

    def wait(self, predicate, timeout: float = 5.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while not predicate(self.messages) and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.messages)

    def settle(self, quiet_s: float = 0.3) -> list[str]:
        """The messages, once none has arrived for `quiet_s`."""
        count = -1
        while count != len(self.messages):
            count = len(self.messages)
            time.sleep(quiet_s)
        return list(self.messages)

    def new(self) -> list[str]:
        """The messages since the last call, once they have settled."""
        messages = self.settle(0.15)
        fresh, self._seen = messages[self._seen:], len(messages)
        return fresh

    def close(self) -> None:
        self._closed.set()
        self._reader.join(2)
        self.sock.close()
        shutil.rmtree(self._dir, ignore_errors=True)


@pytest.fixture
def notify_socket():
    s = NotifySocket()
    yield s
    s.close()


def fields(message: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in message.splitlines())


def run_node(notify: NotifySocket, *args: str, watchdog_usec: int = 1_000_000) -> subprocess.CompletedProcess:
    env = {**os.environ, "NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": str(watchdog_usec)}
    return subprocess.run([str(BIN / "edge-node"), "run", *args], capture_output=True, text=True, timeout=90,
                          cwd=REPO, env=env)


# --- the node under a (real-socket) systemd -------------------------------------------------------

def test_node_run_sends_ready_then_watchdog_pings_then_stopping(level_clip, notify_socket):
    result = run_node(notify_socket, "--config", str(PROFILES / "reservoir.toml"), "--no-link",
                      "--source", f"file:{level_clip}?loop=1", "--duration", "3")
    assert result.returncode == 0, result.stderr
    messages = [fields(m) for m in notify_socket.settle()]
    kinds = [next(k for k in ("READY", "WATCHDOG", "STOPPING", "STATUS") if k in m) for m in messages]
    assert kinds[0] == "READY" and kinds[-1] == "STOPPING", kinds
    assert messages[0]["STATUS"].startswith("running")
    # READY carries the first ping; then one every half WATCHDOG_USEC (0.5 s) over a 3 s run.
    pings = [m for m in messages if m.get("WATCHDOG") == "1"]
    assert len(pings) >= 4, kinds
    ready, stopping = kinds.index("READY"), len(kinds) - 1
    assert all(ready <= i < stopping for i, m in enumerate(messages) if m.get("WATCHDOG") == "1")
    statuses = [m["STATUS"] for m in messages if "STATUS" in m and "READY" not in m and "STOPPING" not in m]
    assert any(s.startswith("fps ") and "source streaming" in s and "no link" in s for s in statuses), statuses
    assert "systemd: notifying" in result.stderr and "Traceback" not in result.stderr


def test_dock_run_notifies_and_asks_for_a_longer_watchdog(tmp_path, notify_socket):
    from edge.crypto import generate_keypair

    generate_keypair(tmp_path / "keys" / "node.key", tmp_path / "keys" / "node.pub")
    (tmp_path / "mount").mkdir()
    result = run_node(notify_socket, "--config", str(PROFILES / "dock.toml"), "--no-link", "--state-dir",
                      str(tmp_path), "--set", f"dock.mount_dir={tmp_path / 'mount'}", "--duration", "2",
                      watchdog_usec=30_000_000)
    assert result.returncode == 0, result.stderr
    messages = [fields(m) for m in notify_socket.settle()]
    assert messages[0] == {"WATCHDOG_USEC": "600000000"}  # hashing one large recording blocks its loop
    assert "READY" in messages[1] and messages[1]["STATUS"].startswith("dock")
    assert "STOPPING" in messages[-1]


def test_without_notify_socket_nothing_is_sent_and_nothing_breaks():
    dog = Watchdog.from_env({})
    assert not dog.enabled
    dog.ready()
    assert dog.beat(1) is False
    dog.status("x")
    dog.stopping()


def test_abstract_namespace_address(tmp_path):
    sock = NotifySocket(abstract=True)
    try:
        notifier = Notifier(sock.address)
        assert notifier.send("READY=1", "STATUS=up")
        assert sock.wait(len) == ["READY=1\nSTATUS=up"]
        notifier.close()
    finally:
        sock.close()


def test_an_unreachable_socket_is_logged_once_and_never_raises(tmp_path, caplog):
    notifier = Notifier(str(tmp_path / "nobody-listens"))
    assert notifier.send("WATCHDOG=1") is False
    assert notifier.send("WATCHDOG=1") is False
    assert len([r for r in caplog.records if "cannot notify" in r.message]) == 1


def test_watchdog_usec_and_pid():
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 15.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None  # meant for another
    assert watchdog_interval_s({}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "soon"}) is None


def test_stall_limit_covers_the_sources_own_reconnect_backoff(tmp_path):
    profile = load_profile(PROFILES / "market.toml")
    cfg = profile.capture
    assert stall_limit_s(cfg) >= cfg.reconnect.max_s + cfg.open_timeout_s
    assert stall_limit_s(None) == 30.0


# --- pings stop when progress stops ----------------------------------------------------------------

class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_pings_stop_when_the_progress_counter_stalls_and_resume_with_it(notify_socket, caplog):
    clock = Clock()
    dog = Watchdog(Notifier(notify_socket.address), interval_s=1.0, stall_s=5.0, clock=clock)
    dog.ready()
    assert notify_socket.new() == ["READY=1\nSTATUS=running\nWATCHDOG=1"]

    counter = 0
    for _ in range(10):  # 10 s of frames, the loop turning every 0.25 s: a ping a second
        for _ in range(4):
            clock.t += 0.25
            counter += 1
            dog.beat(counter)
    assert notify_socket.new() == ["WATCHDOG=1"] * 10

    sent = []
    for _ in range(40):  # the camera hangs: the loop still turns, the counter does not move
        clock.t += 0.25
        sent.append(dog.beat(counter))
    assert sent[:4 * 5].count(True) == 5  # pings go on for stall_s ...
    assert not any(sent[4 * 5 + 1:])  # ... and then stop: systemd will restart the node
    assert dog.stalled
    stalled = notify_socket.new()
    assert stalled[:5] == ["WATCHDOG=1"] * 5 and stalled[5].startswith("STATUS=stalled: no progress for 5")
    assert len(stalled) == 6
    assert any("pings stop" in r.message for r in caplog.records)

    counter += 1  # frames again (before systemd acted): pings resume at once
    clock.t += 0.25
    assert dog.beat(counter) is True and not dog.stalled


class HangingCamera(FrameSource):
    """A live camera whose driver stops returning after `good` frames (a hung read, not an error)."""

    live = True

    def __init__(self, good: int):
        super().__init__("hanging-camera")
        self.good = good
        self.hung = threading.Event()

    def _open(self) -> None:
        pass

    def _grab(self) -> Capture | None:
        if self.stats.captured >= self.good:
            self.hung.set()
            self._stop.wait()  # blocked in the driver until the node is torn down
            return None
        time.sleep(0.02)
        return Capture(np.zeros((48, 64, 3), np.uint8))


def test_a_hung_camera_read_stops_the_nodes_pings(tmp_path, notify_socket):
    profile_file = tmp_path / "cam.toml"
    profile_file.write_text('[node]\nid = "wd-test"\nkind = "camera"\n\n[capture]\nsource = "usb:0"\n\n'
                            '[link]\nenabled = false\n\n[speaker]\nenabled = false\n')
    source = HangingCamera(good=20).start()
    dog = Watchdog(Notifier(notify_socket.address), interval_s=0.1, stall_s=1.0)
    node = Node(load_profile(profile_file), source, watchdog=dog, report_interval_s=0.2)
    stop = threading.Event()
    runner = threading.Thread(target=node.run, args=(stop,))
    runner.start()
    try:
        assert source.hung.wait(10)
        hung_at = time.monotonic()
        while not dog.stalled and time.monotonic() - hung_at < 30:  # generous: a busy machine
            time.sleep(0.05)
        assert dog.stalled
        pings_when_stalled = dog.pings
        seen = len(notify_socket.settle())
        time.sleep(1.0)  # the loop keeps turning (it reads with a timeout), but no ping goes out
        late = notify_socket.settle()[seen:]
        assert dog.pings == pings_when_stalled and "WATCHDOG=1" not in late, late
        assert pings_when_stalled >= 3  # it did ping while frames flowed
    finally:
        stop.set()
        runner.join(10)
        source.stop()
    notify_socket.settle()
    assert any(m.startswith("READY=1") for m in notify_socket.messages)
    assert any(m.startswith("STATUS=stalled") for m in notify_socket.messages)
    assert notify_socket.messages[-1].startswith("STOPPING=1")


# --- the unit -----------------------------------------------------------------------------------------

def test_unit_asks_for_notify_watchdog_and_restart():
    lines = {line.strip() for line in UNIT.read_text().splitlines()}
    for needed in ("Type=notify", "NotifyAccess=main", "WatchdogSec=30", "Restart=always"):
        assert needed in lines


def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (no systemd on this machine)")
    # As installed: the instance is a profile and /opt/edge is this checkout (verify checks ExecStart).
    unit = tmp_path / "edge-node@reservoir.service"
    unit.write_text(UNIT.read_text().replace("/opt/edge", str(REPO)))
    result = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if unit.name in line]
    assert result.returncode == 0 and not complaints, result.stdout + result.stderr


def test_systemd_analyze_would_catch_a_broken_unit(tmp_path):
    """The check above means something: verify names a misspelt setting in the unit."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (no systemd on this machine)")
    unit = tmp_path / "edge-node@reservoir.service"
    unit.write_text(UNIT.read_text().replace("/opt/edge", str(REPO)).replace("Type=notify", "Type=notfy"))
    result = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert any(unit.name in line for line in (result.stdout + result.stderr).splitlines())
