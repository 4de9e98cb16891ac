"""systemd integration without a dependency: the sd_notify protocol and a progress watchdog.

systemd starts the node with `Type=notify` and `WatchdogSec=`; it passes `$NOTIFY_SOCKET` (a path, or
`@name` in the abstract namespace) and `$WATCHDOG_USEC`.  The node sends one datagram per message:

- `READY=1` once it runs (source open, model loaded, link started);
- `WATCHDOG=1` every half `$WATCHDOG_USEC`, from the main loop, **only while the loop makes progress**
  (frames processed, or a camera that is down being retried).  A camera read that hangs, a stuck
  detector or a loop that blocks stops the pings, and systemd kills and restarts the node;
- `STATUS=...` a short human line (`systemctl status` shows it);
- `STOPPING=1` at shutdown.

Without `$NOTIFY_SOCKET` (a terminal, the tests, another init) every call does nothing.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger("edge.watchdog")

# No progress for this long (and no camera reconnect attempt either): the pings stop.
DEFAULT_STALL_S = 30.0


def stall_limit_s(capture) -> float:
    """How long a camera node may go without a frame before it counts as hung: long enough for the
    source's own reconnect backoff and open timeout (a camera that is unplugged is retried by the
    source, which counts as progress each attempt)."""
    if capture is None:
        return DEFAULT_STALL_S
    return max(DEFAULT_STALL_S, capture.reconnect.max_s + capture.open_timeout_s + 5.0)


class Notifier:
    """Sends sd_notify datagrams to $NOTIFY_SOCKET; a no-op without one."""

    def __init__(self, address: str | None = None):
        self.address: str | None = None
        self._sock: socket.socket | None = None
        self._warned = False
        if not address:
            return
        if address.startswith("@"):  # abstract namespace
            address = "\0" + address[1:]
        elif not address.startswith("/"):
            log.warning("systemd: NOTIFY_SOCKET=%s is not a unix socket; not notifying", address)
            return
        self.address = address
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Notifier:
        return cls(env.get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, *fields: str) -> bool:
        """One datagram of `KEY=value` lines; False when off or when it could not be sent."""
        if self._sock is None:
            return False
        try:  # never wait: a busy or full receiver must not hold up the main loop
            self._sock.sendto("\n".join(fields).encode("utf-8"), socket.MSG_DONTWAIT, self.address)
        except OSError as exc:
            if not self._warned:  # once: a message per frame would flood the journal
                log.warning("systemd: cannot notify %s: %s", self.address.replace("\0", "@"), exc)
                self._warned = True
            return False
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval_s(env: Mapping[str, str] = os.environ) -> float | None:
    """Half of $WATCHDOG_USEC when the watchdog is meant for this process (as sd_watchdog_enabled)."""
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec:
        return None
    try:
        timeout_s = int(usec) / 1e6
        if pid and int(pid) != os.getpid():
            return None
    except ValueError:
        log.warning("systemd: ignoring WATCHDOG_USEC=%s WATCHDOG_PID=%s", usec, pid)
        return None
    return timeout_s / 2 if timeout_s > 0 else None


class Watchdog:
    """Pings systemd's watchdog from the main loop while a progress counter keeps moving.

    Call `beat(counter)` on every turn of the loop with a number that grows whenever the loop gets
    work done (frames processed, reconnect attempts).  A ping goes out at most every `interval_s`, and
    only if the counter moved within the last `stall_s`.
    """

    def __init__(self, notifier: Notifier | None = None, *, interval_s: float | None = None,
                 stall_s: float = DEFAULT_STALL_S, clock: Callable[[], float] = time.monotonic):
        self.notifier = notifier or Notifier()
        self.interval_s = interval_s
        self.stall_s = stall_s
        self.clock = clock
        self.pings = 0
        self.stalled = False
        self._progress: int | None = None
        self._moved = clock()
        self._last_ping: float | None = None
        self._status: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, *, stall_s: float = DEFAULT_STALL_S) -> Watchdog:
        dog = cls(Notifier.from_env(env), interval_s=watchdog_interval_s(env), stall_s=stall_s)
        if dog.interval_s and not faulthandler.is_enabled():
            faulthandler.enable(all_threads=True)  # systemd's SIGABRT prints where every thread hung
        if dog.notifier.enabled:
            log.info("systemd: notifying %s%s", env["NOTIFY_SOCKET"],
                     f"; watchdog ping every {dog.interval_s:g} s while frames flow (stall after {stall_s:g} s)"
                     if dog.interval_s else "; no watchdog")
        return dog

    @property
    def enabled(self) -> bool:
        return self.notifier.enabled

    def ready(self, status: str = "running") -> None:
        """The service is up: READY=1 and the first ping; the stall clock starts now."""
        self._moved = self.clock()
        self._status = status
        fields = ["READY=1", f"STATUS={status}"]
        if self.interval_s:
            fields.append("WATCHDOG=1")
            self._last_ping = self._moved
            self.pings += 1
        self.notifier.send(*fields)

    def beat(self, progress: int) -> bool:
        """Called from the main loop; True when a WATCHDOG=1 went out."""
        now = self.clock()
        if progress != self._progress:
            self._progress, self._moved = progress, now
            if self.stalled:
                self.stalled = False
                log.warning("watchdog: progress again; pings resume")
        elif now - self._moved > self.stall_s:
            if not self.stalled:
                self.stalled = True
                log.error("watchdog: no progress for %.0f s (no frame processed, no reconnect attempt); pings stop "
                          "and systemd restarts the node if this lasts", now - self._moved)
                self.status(f"stalled: no progress for {now - self._moved:.0f} s")
            return False
        if not self.interval_s or (self._last_ping is not None and now - self._last_ping < self.interval_s):
            return False
        self._last_ping = now
        self.pings += 1
        return self.notifier.send("WATCHDOG=1")

    def status(self, text: str) -> None:
        if text != self._status:
            self._status = text
            self.notifier.send(f"STATUS={text}")

    def extend(self, timeout_s: float) -> None:
        """Ask systemd for a longer watchdog timeout (WATCHDOG_USEC=, systemd >= 236) when the unit's is
        shorter: for a loop that legitimately blocks that long (the dock hashing a large recording)."""
        if self.interval_s and self.interval_s * 2 < timeout_s \
                and self.notifier.send(f"WATCHDOG_USEC={int(timeout_s * 1e6)}"):
            log.info("systemd: watchdog timeout raised to %g s", timeout_s)

    def stopping(self, status: str = "stopping") -> None:
        self.notifier.send("STOPPING=1", f"STATUS={status}")
