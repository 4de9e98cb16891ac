"""A shaped link between two network namespaces, for measuring the uplink as a 4G box sees it.

Where the kernel has netem, `tc qdisc ... netem rate/delay/loss` would do; these machines' kernels do
not, so a user-space forwarder joins the namespaces: one TUN device in each (a point-to-point link,
10.77.0.1 on the node's side, 10.77.0.2 on the hub's), and a process in between that reads every IP
packet from one and writes it to the other after shaping:

- rate: each direction is a link of `rate_bit_s`; a packet leaves when the one before it has been
  sent (serialisation delay, bytes x 8 / rate);
- delay: then it travels `delay_s` (one way, each direction: the round trip is twice that);
- loss: a packet is dropped with probability `loss` (each direction);
- a bounded queue: a packet that finds more than `queue_bytes` waiting for the link is dropped
  (tail drop, as a base station's buffer does), 1 s of the rate by default;
- an outage: SIGUSR1 cuts the link (every packet lost) and the next one brings it back.

The forwarder runs at real-time priority (SCHED_FIFO) where it may, so that a machine busy with the
node, the broker and other work does not idle the emulated link while the forwarder waits for a CPU.

Usage (root): `python -m simulator.netrig forward --node-ns A --hub-ns B --mbit 1 --delay-ms 50`;
the `NetRig` context manager below makes the namespaces, starts the forwarder and runs programs in
either side.  Everything is undone on exit.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import fcntl
import json
import os
import random
import select
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
NODE_ADDR, HUB_ADDR = "10.77.0.1", "10.77.0.2"


def unavailable() -> str | None:
    """Why the rig cannot run here (None: it can)."""
    if os.geteuid() != 0:
        return "the link rig needs root (network namespaces and TUN devices)"
    if not os.path.exists("/dev/net/tun"):
        return "the link rig needs /dev/net/tun"
    if shutil.which("ip") is None:
        return "the link rig needs the `ip` tool (iproute2)"
    return None


def open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class Shaper:
    """One direction of the link: rate, delay, loss and a bounded queue."""

    def __init__(self, rate_bit_s: float, delay_s: float, loss: float, queue_bytes: int, seed: int):
        self.byte_s = rate_bit_s / 8
        self.delay_s = delay_s
        self.loss = loss
        self.queue_bytes = queue_bytes
        self.random = random.Random(seed)
        self._free_at = 0.0  # when the link has sent everything accepted so far
        self.out: collections.deque[tuple[float, bytes]] = collections.deque()  # (deliver at, packet)
        self.counts = {"packets": 0, "bytes": 0, "lost": 0, "queue_dropped": 0, "outage_dropped": 0}
        self.down = False  # the link is cut: every packet is lost (a tunnel, a dead cell)

    def accept(self, packet: bytes, now: float) -> None:
        self.counts["packets"] += 1
        if self.down:
            self.counts["outage_dropped"] += 1
            return
        if self.loss and self.random.random() < self.loss:
            self.counts["lost"] += 1
            return
        waiting = max(0.0, self._free_at - now) * self.byte_s  # bytes still queued for the link
        if waiting + len(packet) > self.queue_bytes:
            self.counts["queue_dropped"] += 1
            return
        self._free_at = max(now, self._free_at) + len(packet) / self.byte_s
        self.out.append((self._free_at + self.delay_s, packet))
        self.counts["bytes"] += len(packet)

    def due(self, now: float) -> list[bytes]:
        ready = []
        while self.out and self.out[0][0] <= now:
            ready.append(self.out.popleft()[1])
        return ready

    def next_at(self) -> float | None:
        return self.out[0][0] if self.out else None


def forward(fd_node: int, fd_hub: int, up: Shaper, down: Shaper, stop) -> None:
    """Until stop(): node -> hub through `up`, hub -> node through `down`."""
    pairs = ((fd_node, up, fd_hub), (fd_hub, down, fd_node))
    while not stop():
        now = time.monotonic()
        nexts = [t for t in (up.next_at(), down.next_at()) if t is not None]
        timeout = max(0.0, min(nexts) - now) if nexts else 0.2
        readable, _, _ = select.select([fd_node, fd_hub], [], [], min(timeout, 0.2))
        now = time.monotonic()
        for src, shaper, _ in pairs:
            if src in readable:
                for _ in range(256):
                    try:
                        packet = os.read(src, 65536)
                    except BlockingIOError:
                        break
                    shaper.accept(packet, now)
        for _, shaper, dst in pairs:
            for packet in shaper.due(time.monotonic()):
                with contextlib.suppress(BlockingIOError, OSError):  # a full TUN queue drops, as a wire would
                    os.write(dst, packet)


def realtime(priority: int = 50) -> None:
    """Run the forwarder ahead of everything else on the machine (SCHED_FIFO).

    The forwarder is the link: while it waits for a CPU, the emulated link sits idle and that time is
    lost to whatever crosses it (the Shaper starts a packet no earlier than it saw it), so on a busy
    machine the rig, not the system under test, would set the figures.  A real link does not depend
    on the CPU of the machine under test.  It sleeps in select() between packets, so it takes only the
    CPU it needs (the kernel keeps 5 % for the rest in any case)."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (OSError, AttributeError) as exc:
        print(f"netrig: no real-time priority for the forwarder ({exc}); on a busy machine the link "
              "loses the time the forwarder waits for a CPU", file=sys.stderr, flush=True)


def cmd_forward(args: argparse.Namespace) -> int:
    suffix = args.node_ns[-6:]
    names = {"node": f"rn{suffix}", "hub": f"rh{suffix}"}
    fds = {side: open_tun(name) for side, name in names.items()}
    for side, ns, addr, peer in (("node", args.node_ns, NODE_ADDR, HUB_ADDR), ("hub", args.hub_ns, HUB_ADDR, NODE_ADDR)):
        ip("link", "set", names[side], "netns", ns)
        ip("-n", ns, "addr", "add", addr, "peer", peer, "dev", names[side])
        ip("-n", ns, "link", "set", names[side], "mtu", str(args.mtu), "up")
        ip("-n", ns, "link", "set", "lo", "up")
    rate = args.mbit * 1e6
    queue = args.queue_bytes or max(64 * 1024, int(rate / 8))
    up = Shaper(rate, args.delay_ms / 1000, args.loss, queue, seed=1)
    down = Shaper(rate, args.delay_ms / 1000, args.loss, queue, seed=2)
    stopping = []

    def toggle(*_):
        up.down = down.down = not up.down
    signal.signal(signal.SIGUSR1, toggle)
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    realtime()
    print("ready", flush=True)
    forward(fds["node"], fds["hub"], up, down, lambda: bool(stopping))
    print(json.dumps({"up": up.counts, "down": down.counts}), flush=True)
    return 0


class NetRig:
    """Two namespaces (node, hub) joined by a shaped link; `run(side, argv)` starts a program in one."""

    def __init__(self, mbit: float, delay_ms: float, loss: float = 0.0, queue_bytes: int = 0, mtu: int = 1500):
        reason = unavailable()
        if reason:
            raise RuntimeError(reason)
        tag = f"{os.getpid() % 100000:05d}{random.randrange(10)}"
        self.ns = {"node": f"edge-rig-node-{tag}", "hub": f"edge-rig-hub-{tag}"}
        self.args = ["--mbit", str(mbit), "--delay-ms", str(delay_ms), "--loss", str(loss),
                     "--queue-bytes", str(queue_bytes), "--mtu", str(mtu)]
        self.addr = {"node": NODE_ADDR, "hub": HUB_ADDR}
        self.forwarder: subprocess.Popen | None = None
        self.counts: dict = {}
        self._procs: list[subprocess.Popen] = []
        self._down = False

    def __enter__(self) -> NetRig:
        for ns in self.ns.values():
            ip("netns", "add", ns)
        try:
            repo = Path(__file__).resolve().parents[1]
            env = dict(os.environ, PYTHONPATH=f"{repo}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
            self.forwarder = subprocess.Popen(
                [sys.executable, "-m", "simulator.netrig", "forward", "--node-ns", self.ns["node"], "--hub-ns",
                 self.ns["hub"], *self.args], stdout=subprocess.PIPE, text=True, cwd=repo, env=env)
            line = self.forwarder.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"the link forwarder did not start: {line!r}")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def cut(self, down: bool = True) -> None:
        """Cut the link (every packet lost, both ways) or bring it back."""
        if self.forwarder is not None and down != self._down:
            self._down = down
            self.forwarder.send_signal(signal.SIGUSR1)

    def sysctl(self, side: str, key: str, value: str) -> None:
        subprocess.run(["ip", "netns", "exec", self.ns[side], "sysctl", "-q", "-w", f"{key}={value}"], check=True,
                       capture_output=True)

    def command(self, side: str, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns[side], *argv]

    def run(self, side: str, argv: list[str], **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(self.command(side, argv), **kwargs)
        self._procs.append(proc)
        return proc

    def __exit__(self, *exc) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.forwarder is not None and self.forwarder.poll() is None:
            self.forwarder.terminate()
            out, _ = self.forwarder.communicate(timeout=10)
            with contextlib.suppress(ValueError, IndexError):
                self.counts = json.loads(out.strip().splitlines()[-1])
        for ns in self.ns.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator.netrig")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("forward", help="shape the link between two namespaces (root)")
    p.add_argument("--node-ns", required=True)
    p.add_argument("--hub-ns", required=True)
    p.add_argument("--mbit", type=float, default=1.0)
    p.add_argument("--delay-ms", type=float, default=50.0, help="one way, each direction")
    p.add_argument("--loss", type=float, default=0.0, help="probability per packet, each direction")
    p.add_argument("--queue-bytes", type=int, default=0, help="0: one second of the rate (at least 64 KiB)")
    p.add_argument("--mtu", type=int, default=1500)
    p.set_defaults(func=cmd_forward)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
