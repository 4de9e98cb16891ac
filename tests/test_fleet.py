"""The fleet simulator: a short chaos run of real nodes against a real hub, its fault SPEC, its proxy.

The run is the real thing end to end: `edge-sim fleet` starts mosquitto, `edge-hub listen` and
`edge-hub receive`, three `edge-node run` processes (two on simulated cameras, one on an RTSP camera
from rtsp-server-perl + ffmpeg) and injects one fault of every kind across them.  No timing
thresholds: only that nothing was lost, every fault happened, and every node came back.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import warnings
from pathlib import Path

import pytest

from simulator.fleet.proxy import TcpProxy
from simulator.fleet.spec import KINDS, SpecError, default_schedule, parse_spec

from .conftest import BIN, REPO, require_tool

NODES = ["node1", "node2", "node3"]
# One fault of every kind across three nodes: node1 reservoir (sim), node2 market (RTSP camera),
# node3 reservoir (sim, evidence on a small tmpfs).
SPEC = ("partition:node3@12+12,camera_loss:node2@15+10,disk_full:node3@28+25,broker_restart@38+3,"
        "kill:node1@46+3,stall:node2@52+12,broker_kill@58+3,hub_restart@63+5")


# --- the SPEC -----------------------------------------------------------------------------------------


def test_spec_parses_kinds_nodes_times_and_defaults():
    faults = parse_spec("kill:node1@40,broker_restart@20+5,partition:node2@30+15,disk_full:node3", NODES, 120)
    assert [(f.kind, f.node, f.start, f.length) for f in faults] == [
        ("broker_restart", None, 20.0, 5.0), ("partition", "node2", 30.0, 15.0), ("disk_full", "node3", 30.0, 30.0),
        ("kill", "node1", 40.0, 3.0)]
    assert parse_spec("none", NODES, 120) == []


@pytest.mark.parametrize("spec, words", [
    ("explode:node1@10", "unknown fault 'explode'"),
    ("kill@10", "kill needs a node"),
    ("kill:node9@10", "no node 'node9'"),
    ("broker_restart:node1@10", "takes no node"),
    ("kill:node1@ten", "is not KIND"),
    ("kill:node1@10+0", "LENGTH must be > 0"),
    ("partition:node1@100+15", "faults must end 10 s before the run does"),
    ("partition:node1@10+15,stall:node1@20+5", "overlaps"),
    ("kill:node1@10,,kill:node2@20", "is not KIND"),
])
def test_bad_specs_are_one_line_errors(spec, words):
    with pytest.raises(SpecError) as info:
        parse_spec(spec, NODES, 120)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_all_covers_every_kind_in_rounds_within_the_run():
    faults = default_schedule(NODES, 120)
    assert {f.kind for f in faults} == set(KINDS)
    assert all(f.start > 0 and f.end <= 120 - 10 for f in faults)
    longer = default_schedule([f"node{i}" for i in range(1, 7)], 330)
    assert len(longer) == 3 * len(KINDS)  # three rounds
    assert len({f.node for f in longer if f.kind == "kill"}) == 3  # the power cuts move through the fleet
    with pytest.raises(SpecError, match="needs --duration"):
        default_schedule(NODES, 30)


def test_cli_refuses_a_bad_spec_with_exit_2_and_one_line(tmp_path):
    out = tmp_path / "fleet"
    result = subprocess.run([str(BIN / "edge-sim"), "fleet", "--nodes", "2", "--faults", "camera_loss:node3@5+5",
                             "--out", str(out)], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "no node 'node3'" in result.stderr
    assert result.stdout == "" and not out.exists()  # nothing was started


# --- the proxy (real sockets) ----------------------------------------------------------------------------


@pytest.fixture
def echo_server():
    """A TCP echo server on a free port (threads), standing in for the broker."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            while not stop.is_set():
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                conn.sendall(data)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    stop.set()
    server.close()


@pytest.fixture
def proxy(echo_server):
    p = TcpProxy(echo_server).start()
    yield p
    p.stop()


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(5)
    return s


def recv_exactly(s: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def closed_by_peer(s: socket.socket) -> bool:
    try:
        s.sendall(b"x")
        return s.recv(10) == b""
    except OSError:  # reset
        return True


def dies_at_once(port: int) -> bool:
    """A connection the far end resets or closes at once (the reset may even beat connect())."""
    try:
        s = connect(port)
    except ConnectionResetError:
        return True
    with s:
        return closed_by_peer(s)


def test_proxy_forwards_both_ways(proxy):
    with connect(proxy.port) as s:
        payload = os.urandom(200_000)
        s.sendall(payload)
        assert recv_exactly(s, len(payload)) == payload
    assert proxy.stats.connections == 1 and proxy.stats.bytes_up == proxy.stats.bytes_down == 200_000


def test_proxy_stall_holds_bytes_until_healed(proxy):
    with connect(proxy.port) as s:
        s.sendall(b"before")
        assert recv_exactly(s, 6) == b"before"
        assert proxy.stall() == 1
        s.sendall(b"during")
        s.settimeout(0.7)
        with pytest.raises(TimeoutError):
            s.recv(10)  # nothing comes back while stalled ...
        proxy.heal()
        s.settimeout(5)
        assert recv_exactly(s, 6) == b"during"  # ... and nothing was lost


def test_proxy_drop_resets_connections_and_refuses_new_ones_until_healed(proxy):
    first = connect(proxy.port)
    first.sendall(b"hello")
    assert recv_exactly(first, 5) == b"hello"
    assert proxy.drop() == 1
    assert closed_by_peer(first)
    first.close()
    assert dies_at_once(proxy.port)  # the port still answers, but the connection dies at once
    assert proxy.stats.dropped == 1 and proxy.stats.refused >= 1
    proxy.heal()
    with connect(proxy.port) as back:
        back.sendall(b"back")
        assert recv_exactly(back, 4) == b"back"


def test_proxy_without_a_broker_closes_the_node_side(tmp_path):
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    p = TcpProxy(dead).start()
    try:
        assert dies_at_once(p.port)
        assert p.stats.upstream_failures == 1
    finally:
        p.stop()


# --- a short chaos run -------------------------------------------------------------------------------------


def _mounts_under(folder: Path) -> list[str]:
    with open("/proc/mounts") as f:
        return [line.split()[1] for line in f if line.split()[1].startswith(str(folder))]


@pytest.fixture
def fleet_run(tmp_path):
    """Run `edge-sim fleet` in its own process group; whatever happens, nothing of it is left running
    or mounted afterwards."""
    for tool in ("mosquitto", "ffmpeg", "rtsp-server-perl"):
        require_tool(tool)
    out = tmp_path / "fleet"
    proc = subprocess.Popen([str(BIN / "edge-sim"), "fleet", "--nodes", "3", "--duration", "90", "--drain", "60",
                             "--faults", SPEC, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO, start_new_session=True)
    try:
        try:
            stdout, stderr = proc.communicate(timeout=400)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)  # the fleet cleans up on SIGTERM as on Ctrl-C
            stdout, stderr = proc.communicate(timeout=120)
            pytest.fail(f"edge-sim fleet did not finish in time:\n{stderr[-3000:]}")
        yield proc.returncode, stdout, stderr, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything of the run's own process group still there
        for mount in _mounts_under(tmp_path):
            subprocess.run(["umount", "-l", mount], capture_output=True, timeout=30)


def test_a_short_fleet_run_with_every_fault_loses_nothing(fleet_run, tmp_path):
    code, stdout, stderr, out = fleet_run
    lines = stdout.strip().splitlines()
    assert len(lines) == 1, f"stdout must be one JSON object:\n{stdout[-2000:]}\n{stderr[-3000:]}"
    report = json.loads(lines[0])
    context = f"{json.dumps(report.get('problems'), indent=1)}\n{stderr[-4000:]}"
    assert code == 0 and report["ok"] is True, context
    # Nothing lost: every lifecycle message the nodes committed is at the hub, once.
    assert report["alerts_produced"] == report["alerts_received"] > 0, context
    assert report["alerts_at_hub"] == report["alerts_produced"]
    # Evidence: every sealed bundle reached the hub, was verified there, and the node heard so.
    assert report["bundles_verified_at_hub"] == report["bundles_produced"] > 0, context
    assert report["bundles_acked_by_nodes"] == report["bundles_produced"]
    assert report["drained"] is True and report["not_drained"] == {}
    # Every fault happened and the fleet came back from it.
    root = os.geteuid() == 0
    kinds = {f["kind"] for f in report["faults"]}
    assert kinds == set(KINDS)
    for fault in report["faults"]:
        if fault["kind"] == "disk_full" and not root:
            assert "not root" in fault["skipped"] and report["skipped_faults"], fault
            warnings.warn("not root: the disk_full fault was skipped (reported in the JSON)", stacklevel=1)
            continue
        assert fault["happened"] is True, fault
        assert fault["recovered"] is True and fault["recovery_s"] is not None, fault
    assert report["max_recovery_s"] == max(f["recovery_s"] for f in report["faults"] if f["recovery_s"] is not None)
    assert isinstance(report["duplicates"], int) and report["duplicates"] >= 0
    assert report["max_outbox_depth"] >= 0
    by_kind = {f["kind"]: f for f in report["faults"]}
    assert by_kind["kill"]["exit"] == -9
    assert by_kind["broker_kill"]["broker_exit"] == -9
    assert by_kind["hub_restart"]["exits"] == {"listen": -9, "receive": -9}
    # every lifecycle message was receipted by the hub, and the receipts were counted
    assert report["receipts"] > 0 and report["max_receipt_s"] is not None
    assert by_kind["partition"]["connections_reset"] >= 1
    assert by_kind["camera_loss"]["observed"] is True  # the node saw its camera go and come back
    nodes = report["nodes"]
    assert set(nodes) == set(NODES)
    assert nodes["node1"]["kills"] == 1 and nodes["node1"]["starts"] == 3  # first start, power back, drain
    assert nodes["node2"]["source"] == "rtsp"
    for node_id, node in nodes.items():
        assert node["alerts_produced"] == node["alerts_received"], node_id
        assert node["evidence_verify_on_node"]["ok"] is True, node_id
        assert node["tracebacks"] == 0, node_id
    if root:
        assert nodes["node3"]["evidence_on_tmpfs"] is True
        assert by_kind["disk_full"]["free_bytes_after"] < 64 * 1024
    # The run folder holds the report and every log; the tmpfs is gone.
    assert json.loads((out / "report.json").read_text())["ok"] is True
    assert (out / "nodes" / "node1" / "node.log").exists() and (out / "hub" / "alerts.db").exists()
    assert _mounts_under(tmp_path) == []
    assert "fleet [t=" in stderr and "power cut" in stderr  # progress lines as faults happen
