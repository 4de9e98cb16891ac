"""The service's MQTT session: persistent, MQTT 5, acknowledging each message only after it is stored.

paho acknowledges a QoS 1 message when the callback returns unless told otherwise; the hub uses
`manual_ack` and acks after the database commit, so a worker killed between the two leaves the
message in its session at the broker, which delivers it again when the worker is back (and the
node's outbox sends it again anyway until the receipt comes).  A batch is acknowledged in one write
(edge.hub.service.paho_batch); a message received before a reconnect is not acknowledged after it:
the broker sends it again on the new connection, and its packet id may by then name another message.
"""

from __future__ import annotations

import logging
import os
import queue
import ssl
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from .config import BrokerSection
from .paho_batch import BatchClient

log = logging.getLogger("edge.hub.mqtt")


@dataclass(frozen=True)
class Inbound:
    topic: str
    payload: bytes
    mid: int
    qos: int
    received: float
    connection: int = 0  # which connection it came on (Session.connection)


class Session:
    """Connects in the background, re-subscribes on every connect, queues what arrives."""

    def __init__(self, config: BrokerSection, subscriptions: list[tuple[str, int]], *, client_id: str | None = None):
        self.config = config
        self.subscriptions = subscriptions
        self.announce: tuple[str, bytes] | None = None  # published retained on every connect (hub boot)
        self.inbox: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
        self.connected = threading.Event()
        self.connection = 0  # counts connects: acks of an earlier connection's messages are dropped
        self._stopping = False
        self.client = BatchClient(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or config.client_id,
                                  protocol=mqtt.MQTTv5, manual_ack=True)
        if config.username:
            password = os.environ.get(config.password_env) if config.password_env else None
            if config.password_env and password is None:
                raise ConnectionError(f"broker.password_env: environment variable {config.password_env} is not set")
            self.client.username_pw_set(config.username, password)
        if config.tls_ca:
            self.client.tls_set(ca_certs=config.tls_ca, certfile=config.tls_cert, keyfile=config.tls_key,
                                cert_reqs=ssl.CERT_REQUIRED)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.2, 5)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        from ...link.mqtt import nodelay

        nodelay(client)
        self.connection += 1
        client.subscribe(self.subscriptions)
        if self.announce is not None:
            client.publish(self.announce[0], self.announce[1], qos=1, retain=True)
        self.connected.set()
        log.info("broker: connected (%s)", ", ".join(t for t, _ in self.subscriptions))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.connected.clear()
        if not self._stopping:
            log.warning("broker: disconnected (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, m):
        self.inbox.put(Inbound(m.topic, m.payload, m.mid, m.qos, time.time(), self.connection))

    def start(self, timeout: float = 10.0) -> None:
        host, _, port = self.config.address.rpartition(":")
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 7 * 24 * 3600
        try:
            self.client.connect(host, int(port), clean_start=False, properties=props)
        except (OSError, ssl.SSLError) as exc:
            raise ConnectionError(f"cannot connect to the broker at {self.config.address}: {exc}") from None
        self.client.loop_start()
        if not self.connected.wait(timeout):
            self.client.loop_stop()
            raise ConnectionError(f"the broker at {self.config.address} did not accept the connection")

    def ack(self, item: Inbound) -> None:
        self.ack_many([item])

    def ack_many(self, items: list[Inbound]) -> None:
        """Acknowledge stored messages (call after the commit), those of the current connection only."""
        current = self.connection
        self.client.ack_many((i.mid, i.qos) for i in items if i.qos > 0 and i.connection == current)

    def publish(self, topic: str, payload: bytes | str, qos: int = 1) -> None:
        self.client.publish(topic, payload, qos=qos)

    def stop(self) -> None:
        self._stopping = True
        self.client.loop_stop()
        self.client.disconnect()
