"""How much evidence the uploader keeps in flight: sized from the link it measures.

Alerts share the node's one MQTT connection with evidence (one TCP stream: what is written first
arrives first), so an alert published now waits behind every evidence byte handed to the socket
and not yet delivered.  The uploader therefore keeps in flight only what the link carries in one
round trip plus a short queue (`queue_delay_s`, 0.25 s by default):

    window_bytes = rate x (answer_time + queue_delay_s)

which is enough to keep the link busy (goodput) and small enough that an alert waits at most about
`queue_delay_s` plus the link's one-way delay.  Segments shrink with the rate (an alert cannot
overtake a segment already on the wire), at most `max_segment` and at least `MIN_SEGMENT`.

Both figures come from the receiver's answers (`$file-response`), the way BBR measures a TCP path:

- rate: for each answered segment, the bytes answered since it was sent over the time that took
  (a delivery-rate sample), the highest of the last `RATE_WINDOW_S`.  The window is always a little
  more than the link carries, so the link stays the bottleneck and the samples measure it; a faster
  link answers sooner and the samples, and with them the window, grow within a few round trips.
- answer time: the shortest time from sending a segment to its answer (round trip plus the segment's
  own time on the wire) of the last `RTT_WINDOW_S`.  A standing queue would hide it, so every `PROBE_EVERY_S` the uploader lets what
  is in flight drain before it sends more (one answer time of idle link, under 1 %).

An operator's `max_bytes_per_s` caps the rate used, for a shared or metered SIM card.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

MIN_SEGMENT = 16 * 1024
RATE_WINDOW_S = 10.0
RTT_WINDOW_S = 45.0
PROBE_EVERY_S = 20.0
SEGMENT_TIME_S = 0.1  # a segment is at most this long on the wire at the measured rate
START_RATE = 64 * 1024.0  # bytes/s assumed before the first answer (a poor 4G link)
START_RTT = 0.2


@dataclass
class _Sent:
    nbytes: int
    at: float
    delivered: int  # bytes answered when this one was sent
    delivered_at: float  # when the last of those was answered
    first_sent_at: float  # when the last of those was sent


class LinkPace:
    """Rate and round-trip estimates from the receiver's answers, and the window they give."""

    def __init__(self, *, queue_delay_s: float = 0.25, max_segment: int = 256 * 1024, max_segments: int = 32,
                 cap_bytes_s: float = 0, clock=time.monotonic):
        self.queue_delay_s = queue_delay_s
        self.max_segment = max(MIN_SEGMENT, max_segment)
        self.max_segments = max(2, max_segments)
        self.cap_bytes_s = cap_bytes_s
        self.clock = clock
        self._sent: dict[str, _Sent] = {}
        self._delivered = 0
        self._delivered_at = self._answered_sent_at = clock()
        self._rates: deque[tuple[float, float]] = deque()  # (time, bytes/s) samples
        self._rtts: deque[tuple[float, float]] = deque()  # (time, seconds) samples
        self._last_probe = clock()
        self.probing = False
        self.inflight_bytes = 0

    # --- samples ------------------------------------------------------------------------------
    def sent(self, key: str, nbytes: int) -> None:
        now = self.clock()
        if not self._sent:  # the link was idle: rate samples start from now, not from the last answer
            self._delivered_at = self._answered_sent_at = now
        self._sent[key] = _Sent(nbytes, now, self._delivered, self._delivered_at, self._answered_sent_at)
        self.inflight_bytes += nbytes

    def answered(self, key: str) -> None:
        entry = self._sent.pop(key, None)
        if entry is None:
            return
        now = self.clock()
        self.inflight_bytes -= entry.nbytes
        self._delivered += entry.nbytes
        self._delivered_at = now
        self._answered_sent_at = entry.at
        if entry.nbytes < MIN_SEGMENT // 2:  # init, fin, a manifest: no measure of the link's rate
            return
        # Over the longer of the two spans, as BBR does: answers that come bunched together (the
        # receiver or the broker working in bursts) would otherwise look faster than the link.
        span = max(now - entry.delivered_at, entry.at - entry.first_sent_at)
        if span > 0:
            _push(self._rates, now, (self._delivered - entry.delivered) / span, RATE_WINDOW_S)
        # A segment's answer time: the round trip plus its own time on the wire (plus any queue ahead of
        # it, which the periodic drain lets the minimum see without).
        _push(self._rtts, now, now - entry.at, RTT_WINDOW_S)

    def forget(self) -> None:
        """What was in flight will not be answered (a new file, a reconnect): stop counting it."""
        self._sent.clear()
        self.inflight_bytes = 0

    # --- estimates ------------------------------------------------------------------------------
    def rate(self) -> float:
        """Bytes per second the link carries (capped by the operator's limit)."""
        rate = max((r for _, r in self._rates), default=START_RATE)
        return min(rate, self.cap_bytes_s) if self.cap_bytes_s > 0 else rate

    def rtt(self) -> float:
        return min((r for _, r in self._rtts), default=START_RTT)

    def segment_bytes(self) -> int:
        by_time = self.rate() * SEGMENT_TIME_S
        by_count = self.window_bytes() / self.max_segments * 1.5
        size = int(max(by_time, by_count))
        return max(MIN_SEGMENT, min(self.max_segment, size - size % 4096))

    def window_bytes(self) -> int:
        return int(self.rate() * (self.rtt() + self.queue_delay_s))

    def may_send(self, nbytes: int) -> bool:
        """Room in the window for another segment of `nbytes`?  At least one is always allowed."""
        now = self.clock()
        if self.probing:
            if self._sent:
                return False
            self.probing = False
            self._last_probe = now
        elif now - self._last_probe > PROBE_EVERY_S and self._sent:
            self.probing = True  # let the queue drain: the next answers measure the bare round trip
            return False
        if not self._sent:
            return True
        return len(self._sent) < self.max_segments and self.inflight_bytes + nbytes <= self.window_bytes()

    def snapshot(self) -> dict:
        return {"link_rate_bytes_s": round(self.rate()), "link_rtt_s": round(self.rtt(), 3),
                "window_bytes": self.window_bytes(), "segment_bytes": self.segment_bytes(),
                "inflight_bytes": self.inflight_bytes}


def _push(samples: deque, now: float, value: float, keep_s: float) -> None:
    samples.append((now, value))
    while samples and samples[0][0] < now - keep_s:
        samples.popleft()


class RateLimiter:
    """A token bucket in bytes per second (0: no limit)."""

    def __init__(self, rate: float, burst: float | None = None):
        self.rate = rate
        self.burst = burst or max(rate, 1.0)
        self._tokens = self.burst
        self._last = time.monotonic()

    def wait(self, amount: int, stop: threading.Event) -> bool:
        if self.rate <= 0:
            return True
        while not stop.is_set():
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= amount or self._tokens >= self.burst:
                self._tokens -= amount
                return True
            stop.wait(min(1.0, (amount - self._tokens) / self.rate))
        return False
