"""The hub service's MQTT session on a real mosquitto: reading the socket ahead in large chunks
loses, splits or reorders nothing (small messages many to a read, large ones over several reads),
and what is not acknowledged comes again when the worker reconnects, while what was acknowledged
in one batch write does not."""

from __future__ import annotations

import contextlib
import os
import queue
import time

from edge.hub.service.config import BrokerSection
from edge.hub.service.mqtt import Session

from .hub_rig import Publisher, mosquitto, unique_prefix  # noqa: F401


def _drain(session: Session, count: int, timeout: float = 20.0) -> list:
    got, deadline = [], time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            got.append(session.inbox.get(timeout=0.2))
    return got


def test_read_ahead_delivers_every_message_whole_and_in_order_and_unacked_ones_come_again(mosquitto):  # noqa: F811
    prefix = unique_prefix()
    config = BrokerSection(address=f"127.0.0.1:{mosquitto.port}", client_id=f"{prefix}-hub", share_group="")
    session = Session(config, [(f"{prefix}/+/alert", 1)])
    session.start()
    # Small and large payloads mixed: many per 64 KiB read, and some larger than a read.
    sizes = [10, 300, 70_000, 5, 200_000, 1, 65_536, 65_535, 40] * 20
    payloads = [os.urandom(n) for n in sizes]
    pub = Publisher(mosquitto, f"{prefix}-pub")
    try:
        for i, p in enumerate(payloads):
            pub.client.publish(f"{prefix}/n{i % 3}/alert", p, qos=1)
        got = _drain(session, len(payloads))
        assert [g.payload for g in got] == payloads
        assert [g.topic for g in got] == [f"{prefix}/n{i % 3}/alert" for i in range(len(payloads))]
        first, rest = got[:100], got[100:]
        session.ack_many(first)  # one write for the whole batch
        time.sleep(0.5)
        session.stop()
        # The same session again (a worker back after a crash): only the unacknowledged come again.
        session = Session(config, [(f"{prefix}/+/alert", 1)])
        session.start()
        again = _drain(session, len(rest))
        assert [g.payload for g in again] == [g.payload for g in rest]
        session.ack_many(again)
        assert _drain(session, 1, timeout=1.0) == []
    finally:
        pub.close()
        session.stop()
