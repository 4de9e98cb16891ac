"""The builder: opens the store (migrating it), the MQTT session, the evidence receiver and the HTTP
API, runs the ingest loop until stopped, and tears it all down in order.

Threads: paho's network loop (queues what arrives), this loop (stores, sends receipts, acks), the
evidence thread (the Receiver of `edge-hub receive`, which writes and verifies bundles), and
uvicorn's (the API; its routes use the same store).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time

from ...contract.receipt import hub_boot_announcement
from ...crypto import KeyFileError, load_private_key
from ...watchdog import Watchdog
from . import events
from .config import HubConfig
from .db import Database, StoreError, redact
from .ingest import BadInput, Ingest
from .mqtt import Inbound, Session

log = logging.getLogger("edge.hub.service")

RETRY_S = 1.0
PRUNE_EVERY_S = 600.0  # old change-feed rows go (events.KEEP_S)  # after a database error the batch is tried again (nothing acknowledged meanwhile)


class StartError(Exception):
    """The service cannot start; one line."""


class HubService:
    def __init__(self, config: HubConfig, *, api: bool | None = None):
        self.config = config
        self.api_enabled = config.api.enabled if api is None else api
        self.db: Database | None = None
        self.session: Session | None = None
        self.ingest: Ingest | None = None
        self.receiver = None
        self.server = None
        self.bad = BadInput()
        self.batches = 0
        self._evidence: queue.Queue[Inbound] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    # --- life ------------------------------------------------------------------------------------
    def start(self) -> None:
        c = self.config
        try:
            self.key = load_private_key(c.path(c.hub.key_file))
        except KeyFileError as exc:
            raise StartError(f"hub.key_file: {exc} (make one with `edge-hub keys init`)") from None
        password = os.environ.get(c.store.password_env) if c.store.password_env else None
        try:
            self.db = Database(c.store_url, password=password)
            version = self.db.migrate()
        except StoreError as exc:
            raise StartError(str(exc)) from None
        log.info("store: %s, schema version %d", redact(c.store_url), version)
        self.evidence_root = c.path(c.evidence.dir)
        node_keys = c.path(c.evidence.node_keys) if c.evidence.node_keys else self.evidence_root / "node-keys"
        node_keys.mkdir(parents=True, exist_ok=True)
        self.session = Session(c.broker, [])
        self.ingest = Ingest(self.db, c, self.session.publish, self.bad)
        # Never on a shared subscription: mosquitto delivers no $-topic there (see [evidence] receive).
        files = [("$file-async/#", 1), ("$file/#", 1)] if c.evidence.receive else []
        self.session.subscriptions = self.ingest.subscriptions() + files
        self.session.announce = hub_boot_announcement(c.hub.prefix)  # nodes resend what awaits a receipt
        from ..receive import Receiver

        self.receiver = Receiver(self.evidence_root, node_keys, self.key,
                                 lambda topic, payload: self.session.publish(topic, payload), prefix=c.hub.prefix)
        try:
            self.session.start()
        except ConnectionError as exc:
            raise StartError(str(exc)) from None
        self._spawn("evidence", self._evidence_loop)
        if self.api_enabled:
            self._start_api()

    def _spawn(self, name: str, target) -> None:
        t = threading.Thread(target=target, name=f"hub-{name}", daemon=True)
        t.start()
        self._threads.append(t)

    def _start_api(self) -> None:
        import uvicorn

        from .api.app import build_app
        from .api.deps import Hub
        from .auth import RateLimit

        c = self.config
        hub = Hub(self.db, c, self.key, lambda topic, payload: self.session.publish(topic, payload),
                  self.evidence_root, RateLimit(c.api.login_attempts_per_minute, self.db), self.counters)
        host, _, port = c.api.listen.rpartition(":")
        kwargs = {}
        if c.api.tls_cert:
            kwargs = {"ssl_certfile": str(c.path(c.api.tls_cert)), "ssl_keyfile": str(c.path(c.api.tls_key))}
        self.server = uvicorn.Server(uvicorn.Config(build_app(hub), host=host, port=int(port), log_level="warning",
                                                    access_log=False, lifespan="off",
                                                    timeout_graceful_shutdown=3, **kwargs))
        self._spawn("api", self.server.run)
        deadline = time.monotonic() + 15
        while not self.server.started and time.monotonic() < deadline:
            if not self._threads[-1].is_alive():
                raise StartError(f"api.listen: cannot serve on {c.api.listen} (in use?)")
            time.sleep(0.02)
        log.info("api: %s://%s/ (OpenAPI document at /openapi.json)", "https" if kwargs else "http", c.api.listen)

    def counters(self) -> dict:
        """Live figures for /api/health."""
        return {"stored": self.ingest.stored if self.ingest else 0,
                "duplicates": self.ingest.duplicates if self.ingest else 0, "refused": self.bad.total,
                "batches": self.batches, "broker_connected": bool(self.session and self.session.connected.is_set())}

    def run(self, stop: threading.Event, duration_s: float | None = None) -> None:
        """The ingest loop: batches of messages, stored, receipted, acknowledged."""
        dog = Watchdog.from_env(stall_s=60.0)
        dog.ready("serving")
        started = time.monotonic()
        turns = 0
        batch_max = self.config.store.batch
        inbox = self.session.inbox
        pruned = 0.0
        while not stop.is_set() and not self._stop.is_set():
            if duration_s is not None and time.monotonic() - started >= duration_s:
                break
            turns += 1
            dog.beat(turns)
            if time.monotonic() - pruned > PRUNE_EVERY_S:
                pruned = time.monotonic()
                try:
                    events.prune(self.db)
                except Exception as exc:  # the next turn tries again; ingest goes on
                    log.warning("events: could not prune the change feed: %s", exc)
            try:
                first = inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < batch_max:
                try:
                    batch.append(inbox.get_nowait())
                except queue.Empty:
                    break
            messages = []
            for item in batch:
                (self._evidence.put(item) if item.topic.startswith("$file") else messages.append(item))
            stored = not messages
            while not stored and not stop.is_set():
                try:
                    self._store(messages)
                    stored = True
                except Exception as exc:  # the database: keep everything unacknowledged and try again
                    log.error("ingest: %s: %s; retrying in %g s", type(exc).__name__,
                              (str(exc).splitlines() or [""])[0], RETRY_S)
                    turns += 1
                    dog.beat(turns)
                    stop.wait(RETRY_S)
            if not stored:
                break  # stopping: the unacknowledged messages come again after the restart
            self.session.ack_many(messages)
            self.batches += 1
        dog.stopping()
        c = self.counters()
        log.info("ingest: %d stored, %d duplicates, %d refused, in %d batches", c["stored"], c["duplicates"],
                 c["refused"], c["batches"])

    def _store(self, messages: list[Inbound]) -> None:
        """Store a batch.  If that fails while the database answers, each message is tried alone
        (three times, for a transient conflict); one that still fails is poison (the database refuses
        that message, not all of them): it is refused like bad input and acknowledged, so it cannot
        block the ingest.  If the database does not answer, raise: the batch is tried again later,
        unacknowledged."""
        try:
            self.ingest.handle(messages)
            return
        except Exception:
            self.db.query("SELECT 1")  # raises when the database is the problem
        for item in messages:
            for attempt in range(3):
                try:
                    self.ingest.handle([item])
                    break
                except Exception as exc:
                    self.db.query("SELECT 1")
                    if attempt == 2:
                        self.bad(item.topic.split("/")[1] if "/" in item.topic else item.topic,
                                 f"the store refused it: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}")

    def _evidence_loop(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._evidence.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self.receiver.handle(item.topic, item.payload)
            except OSError as exc:
                log.error("evidence: %s: %s", item.topic, exc)
            except Exception:
                log.exception("evidence: %s", item.topic)
                self.bad(item.topic.split("/")[1] if "/" in item.topic else "?", "evidence upload failed")
            self.session.ack(item)

    def stop(self) -> None:
        self._stop.set()
        if self.server is not None:
            if self.db is not None:
                from .feed import Feed

                Feed.of(self.db).close()  # open event streams end, so the server's shutdown waits for none
            self.server.should_exit = True
        for t in self._threads:
            t.join(timeout=10)
        if self.session is not None:
            self.session.stop()
        if self.receiver is not None:
            self.receiver.close()
        if self.db is not None:
            self.db.close()

