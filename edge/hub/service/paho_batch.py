"""A paho client for a subscriber that takes messages in bulk: reads the socket in large chunks and
acknowledges a whole batch in one write.

Why: paho reads each packet with three or four `recv` calls (the command byte, each byte of the
remaining length, the body) and a `select` between packets, and `ack()` queues one PUBACK with a
wake-up of the network thread per message.  Receiving and acknowledging a QoS 1 backlog that way
costs about 170 us of CPU per message on the development machine, more than storing it; read in
64 KiB chunks and acknowledged a batch at a time it costs about 60 us (bench/hub.py measures it).

It relies on three of paho 2's private methods (`_sock_recv`, `loop_read`'s packet loop and
`_packet_queue`); if a paho release changes them the client falls back to paho's own behaviour
(checked once, at import), so it can get slower but not wrong.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

import paho.mqtt.client as mqtt
from paho.mqtt.client import MQTTErrorCode

PUBACK = 0x40
READ_BYTES = 65536

#: The private parts relied on exist (paho 2.x): otherwise behave as a plain paho client.
SUPPORTED = all(hasattr(mqtt.Client, name) for name in ("_sock_recv", "_packet_read", "_packet_queue", "loop_read"))


class BatchClient(mqtt.Client):
    """paho's client, reading ahead in its own buffer and acknowledging many messages at once."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._ahead = memoryview(b"")  # bytes read from the socket, not yet parsed
        self._ahead_sock: object | None = None  # the socket they came from (a reconnect drops them)

    def _sock_recv(self, bufsize: int) -> bytes:
        if not SUPPORTED:
            return super()._sock_recv(bufsize)
        if self._ahead_sock is not self._sock:
            self._ahead, self._ahead_sock = memoryview(b""), self._sock
        if not self._ahead:
            data = super()._sock_recv(READ_BYTES)  # raises BlockingIOError when nothing is there
            if not data:
                return data  # the peer closed: paho sees the empty read
            self._ahead = memoryview(data)
        out, self._ahead = self._ahead[:bufsize], self._ahead[bufsize:]
        return out.tobytes()

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Parse every packet already read ahead: `select` would not wake for bytes in our buffer."""
        rc = super().loop_read(max_packets)
        while (rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._ahead and self._sock is not None
               and self._ahead_sock is self._sock):
            rc = super().loop_read(max_packets)
        return rc

    def ack_many(self, acks: Iterable[tuple[int, int]]) -> None:
        """Acknowledge (mid, qos) pairs: the QoS 1 ones in one write, QoS 2 through paho."""
        ones = []
        for mid, qos in acks:
            if qos == 1:
                ones.append(mid)
            elif qos == 2:
                self.ack(mid, qos)
        if not ones or not self._manual_ack:
            return
        if not SUPPORTED:
            for mid in ones:
                self.ack(mid, 1)
            return
        self._packet_queue(PUBACK, b"".join(struct.pack("!BBH", PUBACK, 2, mid) for mid in ones), 0, 0)
