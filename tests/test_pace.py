"""The uploader's link measure (edge/link/pace.py) against a modelled link: a FIFO of a given rate and
one-way delay, the receiver answering each segment as it arrives.  Simulated time, no sleeping: the
estimate finds the link, the window stays near a round trip's worth, and the cap holds."""

from __future__ import annotations

import heapq

import pytest

from edge.link.pace import LinkPace


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def simulate(rate: float, delay: float, seconds: float = 60.0, **kwargs) -> tuple[LinkPace, dict]:
    """Run an uploader that always has data against the model; returns the pace and what happened."""
    clock = Clock()
    pace = LinkPace(clock=clock, **kwargs)
    answers: list[tuple[float, str, int]] = []
    link_free, n, delivered, worst_queue_s = 0.0, 0, 0, 0.0
    while clock.now < seconds:
        while True:
            size = pace.segment_bytes()
            if not pace.may_send(size):
                break
            n += 1
            key = f"s{n}"
            pace.sent(key, size)
            queue_s = max(0.0, link_free - clock.now)  # what an alert sent now would wait for
            worst_queue_s = max(worst_queue_s, queue_s) if clock.now > 10 else worst_queue_s
            link_free = max(clock.now, link_free) + size / rate
            heapq.heappush(answers, (link_free + 2 * delay, key, size))
        at, key, size = heapq.heappop(answers)
        clock.now = at
        pace.answered(key)
        if at > 10:
            delivered += size
    return pace, {"goodput": delivered / (seconds - 10) / rate, "worst_queue_s": worst_queue_s}


@pytest.mark.parametrize("mbit", [1, 10, 50])
def test_the_estimate_finds_the_link_and_keeps_it_busy_with_a_short_queue(mbit):
    rate = mbit * 1e6 / 8
    pace, seen = simulate(rate, delay=0.05)
    assert 0.8 * rate <= pace.rate() <= 1.25 * rate
    assert seen["goodput"] >= 0.9, seen
    # an alert never waits behind more than the queue allowance and a segment or two
    assert seen["worst_queue_s"] <= 0.25 + 2 * pace.segment_bytes() / rate + 0.05, seen
    assert pace.window_bytes() <= rate * (2 * 0.05 + 0.25 + 0.2)


def test_segments_shrink_on_a_slow_link():
    slow, _ = simulate(1e6 / 8, delay=0.05)
    fast, _ = simulate(50e6 / 8, delay=0.05)
    assert slow.segment_bytes() < 64 * 1024 <= fast.segment_bytes() <= 256 * 1024


def test_an_operators_cap_is_the_rate_used():
    pace, seen = simulate(10e6 / 8, delay=0.05, cap_bytes_s=100_000)
    assert pace.rate() == 100_000
    assert pace.window_bytes() <= 100_000 * (2 * 0.05 + 0.25 + 0.2)
