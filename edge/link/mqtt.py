"""The MQTT link: a network thread that connects, keeps the node's status, receives commands and,
while PUBACKs come in, refills the window from the outbox itself; a pump thread that deletes the
acknowledged rows in batches and wakes for new messages when the link is idle.  (Refilling on the
network thread matters: SQLite gives up Python's interpreter lock at every row, and a second thread
reading rows while the network thread works would wait for that lock once per row.  A batch delete
is one statement, so it runs beside the network thread.)

- Status: `online` (retained) on every connect, the Last Will says `offline`, and a graceful stop
  publishes `offline` before disconnecting.
- The outbox is drained in order with a bounded window of QoS 1 messages in flight; at its PUBACK a
  row is deleted, or, for a lifecycle message, kept until the hub's receipt and sent again, oldest
  first, when that receipt is overdue (with back-off; at once after the broker lost our session).
  paho re-sends what was in flight after a reconnect; after a restart the outbox starts again from
  its first row.
- A database error (a full disk) never kills a thread: it is logged once, retried with back-off,
  and `problems` (in the status and the node's report) says the link is not healthy meanwhile.
- Reconnects back off exponentially with jitter, so a fleet does not storm a restarted broker.
- Persistent session (MQTT 5 session expiry, or clean_session=False on 3.1.1) and a stable client
  id, so commands sent while the node was away are delivered when it returns.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import apsw
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ..contract.timefmt import now_iso as iso_now
from .outbox import Outbox
from .tcp import congestion_control
from .topics import Topics

log = logging.getLogger("edge.link")

SESSION_EXPIRY_S = 7 * 24 * 3600
STABLE_S = 10.0
RESEND_EVERY_S = 1.0  # how often the pump looks for rows whose receipt is overdue


@dataclass
class LinkSettings:
    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    protocol: str = "5"
    keepalive_s: int = 30
    inflight: int = 64
    reconnect_initial_s: float = 1.0
    reconnect_max_s: float = 60.0
    subscriptions: list[str] = field(default_factory=list)
    tcp_congestion: str = ""  # e.g. "bbr"; "" leaves the system's default


def nodelay(client: mqtt.Client) -> None:
    """Send small messages at once: no waiting on Nagle's algorithm and delayed ACKs."""
    sock = client.socket()
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class MqttLink:
    def __init__(self, settings: LinkSettings, topics: Topics, outbox: Outbox, *, version: str,
                 on_message: Callable[[str, bytes], None] | None = None,
                 status_extra: Callable[[], dict] | None = None):
        self.settings = settings
        self.topics = topics
        self.outbox = outbox
        self.version = version
        self.on_message = on_message
        self.status_extra = status_extra or dict
        self.connected = threading.Event()
        self.connects = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pump_thread: threading.Thread | None = None
        # Owned by the pump thread: paho mid -> outbox seq of what is in flight.
        self._inflight: dict[int, int] = {}
        self._sent_upto = 0
        # Filled by paho's callback on the network thread, drained by the pump: (mid, failure reason).
        self._pubacks: deque[tuple[int, str | None]] = deque()
        self._acked: list[int] = []
        self._last_flush = time.monotonic()
        self._connected_at = 0.0
        self._session_up = False
        self._handed_max = settings.inflight * 8  # rows handed to paho and not yet acknowledged
        self._refill_at = max(1, settings.inflight)  # free room worth a read of the outbox
        self._pump_lock = threading.Lock()  # _inflight, _sent_upto, _acked: either thread, one at a time
        self._next_resend = 0.0
        self._resend_now = False  # session lost or hub restarted: resend what awaits a receipt at once
        self.problems: dict[str, str] = {}  # thread name -> what is wrong with it now (empty: healthy)
        self._cc_warned = False
        self.client = self._make_client()

    # --- set-up -----------------------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        s = self.settings
        v5 = s.protocol == "5"
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=s.client_id,
                             protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
                             clean_session=None if v5 else False, reconnect_on_failure=False)
        if s.username:
            client.username_pw_set(s.username, s.password)
        if s.ca_file:
            client.tls_set(ca_certs=s.ca_file, certfile=s.cert_file, keyfile=s.key_file,
                           cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.max_inflight_messages_set(s.inflight)
        client.max_queued_messages_set(0)
        client.will_set(self.topics.status, self._status_payload("offline"), qos=1, retain=True)
        # publish() from the pump thread must only queue: if paho wrote from two threads at once the
        # packets could leave out of order.  With a write-registration hook set, paho leaves every
        # socket write to loop() on the network thread (it wakes that loop through its socket pair).
        client.on_socket_register_write = lambda *args: None
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _status_payload(self, state: str) -> bytes:
        body = {"state": state, "ts": iso_now(), "version": self.version}
        if state == "online":
            body["healthy"] = not self.problems
            if self.problems:
                body["problems"] = sorted(self.problems.values())
            body["outbox_awaiting_receipt"] = self.outbox.awaiting()
            body.update(self.status_extra())
        return json.dumps(body).encode()

    # --- life -------------------------------------------------------------------------------
    def start(self) -> MqttLink:
        self._thread = threading.Thread(target=self._run, name="mqtt-link", daemon=True)
        self._thread.start()
        self._pump_thread = threading.Thread(target=self._pump_loop, name="mqtt-outbox", daemon=True)
        self._pump_thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Flush what was acknowledged, say `offline` (retained) if connected, disconnect."""
        self._stop.set()
        self.outbox.wake()
        if self._pump_thread is not None:
            self._pump_thread.join(timeout)
        if self._thread is not None:
            self._thread.join(timeout)

    def publish_now(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> bool:
        """Best effort, not through the outbox (stats): dropped when offline."""
        if not self.connected.is_set():
            return False
        return self.client.publish(topic, payload, qos=qos, retain=retain).rc == mqtt.MQTT_ERR_SUCCESS

    def refresh_status(self) -> None:
        """Re-publish `online` with fresh details (e.g. evidence degraded)."""
        self.publish_now(self.topics.status, self._status_payload("online"), qos=1, retain=True)

    # --- the network thread ----------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._run_once()
                return
            except Exception as exc:  # never die: the node would believe its link is up
                self.problems["mqtt-link"] = f"mqtt-link: {type(exc).__name__}: {exc}"
                log.exception("link: the network thread failed; starting it again")
                self.connected.clear()
                self._session_up = False
                with contextlib.suppress(Exception):
                    self.client.disconnect()
                self._stop.wait(1.0)

    def _run_once(self) -> None:
        # The back-off counts failures in a row.  A connection the broker accepted proves it reachable
        # now, so the refusals before it stop counting; only connections that dropped again before
        # STABLE_S ("flaps": a broker dying again, another client taking over our id) keep the delay
        # growing, so that a flapping broker is not hammered and a broker back from a crash is not
        # left waiting for a back-off that grew while it was away.
        attempt = flaps = 0
        while not self._stop.is_set():
            tried = time.monotonic()
            try:
                self._connect()
            except (OSError, ssl.SSLError, ValueError) as exc:
                attempt += 1
                self._backoff(attempt, f"cannot connect to {self.settings.host}:{self.settings.port}: {exc}")
                continue
            while not self._stop.is_set():
                rc = self.client.loop(timeout=0.05)
                if rc != mqtt.MQTT_ERR_SUCCESS:
                    break
                if self._pubacks and self.connected.is_set():
                    self._guarded("mqtt-link", self._pump, self._refill_at)
                if self._session_up and not self.connected.is_set():
                    # Only now: paho has re-sent what was in flight (after our on_connect returned),
                    # so new rows from the pump cannot overtake them.
                    self.connected.set()
                if self.connected.is_set() and time.monotonic() - self._connected_at > STABLE_S:
                    attempt = flaps = 0  # a connection that lasted resets the backoff
            if self._stop.is_set():
                self._goodbye()
                break
            self._session_up = False
            self.connected.clear()
            if self._connected_at >= tried:  # the broker accepted this connection
                if time.monotonic() - self._connected_at <= STABLE_S:
                    flaps += 1
                attempt = flaps
            else:
                attempt += 1
            self._backoff(max(1, attempt), self.last_error or "connection lost")

    def _connect(self) -> None:
        s = self.settings
        if s.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = SESSION_EXPIRY_S
            self.client.connect(s.host, s.port, keepalive=s.keepalive_s, clean_start=False, properties=props)
        else:
            self.client.connect(s.host, s.port, keepalive=s.keepalive_s)

    def _backoff(self, attempt: int, reason: str) -> None:
        base = min(self.settings.reconnect_max_s, self.settings.reconnect_initial_s * 2 ** min(attempt - 1, 16))
        delay = base * random.uniform(0.5, 1.0)
        log.warning("link: %s; retrying in %.1f s", reason, delay)
        self._stop.wait(delay)

    def _goodbye(self) -> None:
        if self.connected.is_set():
            info = self.client.publish(self.topics.status, self._status_payload("offline"), qos=1, retain=True)
            deadline = time.monotonic() + 2.0
            while not info.is_published() and time.monotonic() < deadline:
                if self.client.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS:
                    break
            self.client.disconnect()
            self.client.loop(timeout=0.1)
        self.connected.clear()

    # --- the pump thread ---------------------------------------------------------------------------
    def _pump_loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self.outbox.clear_wake()  # before the work: a wake during it is not lost
            if self._guarded("mqtt-outbox", self._pump_round):
                failures = 0
                self.outbox.wait(0.05)
            else:  # the database failed (full disk?): try again, less often the longer it lasts
                failures += 1
                self._stop.wait(min(5.0, 0.1 * 2 ** min(failures, 6)))
        with self._pump_lock:
            self._settle()
        self._guarded("mqtt-outbox", self._flush_acks, True)

    def _pump_round(self) -> None:
        self._pump()
        self._flush_acks()

    def _guarded(self, name: str, work, *args) -> bool:
        """Run one round of a thread's work; a database or disk error is logged (once while it
        lasts), kept in `problems` for the status, and the round is tried again later."""
        try:
            work(*args)
        except (apsw.Error, OSError) as exc:
            problem = f"{name}: {type(exc).__name__}: {exc}"
            if self.problems.get(name) != problem:
                log.error("link: %s; retrying", problem)
                self.problems[name] = problem
                self.refresh_status()  # the hub sees `healthy: false` while it lasts
            return False
        if name in self.problems:
            log.warning("link: %s works again", name)
            del self.problems[name]
            self.refresh_status()
        return True

    def resend_all(self) -> None:
        """Send everything awaiting a receipt again at the next turn (the hub restarted)."""
        self._resend_now = True
        self.outbox.wake()

    def _pump(self, refill_at: int = 1) -> None:
        with self._pump_lock:
            self._settle()
            if self.connected.is_set():
                if self._resend_now:
                    self._resend_now = False
                    self.outbox.due_now()
                    self._next_resend = 0.0
                self._fill(refill_at)
                if time.monotonic() >= self._next_resend:
                    self._next_resend = time.monotonic() + RESEND_EVERY_S
                    self._resend()

    def _fill(self, refill_at: int = 1) -> None:
        # paho gets a few windows' worth at once: it sends the next queued message itself the moment
        # a PUBACK frees a slot, so the pipe stays full without a round trip through this code.
        room = self._handed_max - len(self._inflight)
        if room < refill_at or self.outbox.last_seq <= self._sent_upto:  # no room, or nothing new
            return
        for row in self.outbox.pending(after=self._sent_upto, limit=room):
            info = self.client.publish(row.topic, row.payload, qos=row.qos, retain=row.retain)
            # Queued by paho even if the connection just dropped: it re-sends after reconnecting.
            self._inflight[info.mid] = row.seq
            self._sent_upto = row.seq

    def _resend(self) -> None:
        """Send again, oldest first, what the broker acknowledged and the hub never receipted in time.

        Only rows up to what was already handed to paho: newer rows go out through _fill, so the
        order of first sends is that of the outbox and a violation's messages stay in order."""
        room = self._handed_max - len(self._inflight)
        if room <= 0 or self.outbox.awaiting() == 0:
            return
        flying = set(self._inflight.values())
        rows = [r for r in self.outbox.due(self._sent_upto, limit=room) if r.seq not in flying]
        if not rows:
            return
        for row in rows:
            info = self.client.publish(row.topic, row.payload, qos=row.qos, retain=row.retain)
            self._inflight[info.mid] = row.seq
        self.outbox.resending([r.seq for r in rows])
        log.info("link: %d message(s) had no receipt from the hub in time; sent again", len(rows))

    def _settle(self) -> None:
        """Turn the PUBACKs paho reported into outbox rows to delete (or to set aside)."""
        while self._pubacks:
            mid, failure = self._pubacks.popleft()
            seq = self._inflight.pop(mid, None)
            if seq is None:
                if failure is not None:  # our own status: the ACL does not let this node be itself
                    self.last_error = f"broker refused the status message: {failure} (check [link] username and ACL)"
                    log.error("link: %s", self.last_error)
                continue
            if failure is not None:
                log.error("link: broker refused outbox message %d: %s; set aside in the dead table", seq, failure)
                self.outbox.bury(seq, failure)
            else:
                self._acked.append(seq)

    def _flush_acks(self, force: bool = False) -> None:
        """Pump thread: delete what the broker has, in batches, while the network thread goes on."""
        with self._pump_lock:
            now = time.monotonic()
            if not self._acked or (not force and len(self._acked) < 1000 and now - self._last_flush < 0.1):
                return
            batch, self._acked = self._acked, []
            self._last_flush = now
        try:
            self.outbox.ack(batch)
        except BaseException:  # kept for the next try: these rows are not to be sent again
            with self._pump_lock:
                self._acked = batch + self._acked
            raise

    # --- paho callbacks (on this thread, inside loop()) ----------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.last_error = f"broker refused the connection: {reason_code}"
            log.error("link: %s", self.last_error)
            return
        nodelay(client)
        problem = congestion_control(client, self.settings.tcp_congestion)
        if problem is not None and not self._cc_warned:
            self._cc_warned = True
            log.info("link: TCP congestion control %r not available (%s); the system's default is used",
                     self.settings.tcp_congestion, problem)
        self.connects += 1
        self._connected_at = time.monotonic()
        self._session_up = True
        log.info("link: connected to %s:%d (session %s)", self.settings.host, self.settings.port,
                 "resumed" if flags.session_present else "new")
        if not flags.session_present and self.connects > 1:
            self._resend_now = True  # the broker forgot us: what it acknowledged may be gone too
        client.publish(self.topics.status, self._status_payload("online"), qos=1, retain=True)
        for topic in self.settings.subscriptions:
            client.subscribe(topic, qos=1)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._session_up = False
        self.connected.clear()
        if not self._stop.is_set():
            self.last_error = f"disconnected: {reason_code}"

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        # Network thread, inside paho's lock: only record it; _pump does the rest once loop() returns.
        self._pubacks.append((mid, str(reason_code) if reason_code.is_failure else None))

    def _on_message(self, client, userdata, message) -> None:
        if self.on_message is not None:
            try:
                self.on_message(message.topic, message.payload)
            except Exception:
                log.exception("link: handling a message on %s failed", message.topic)
