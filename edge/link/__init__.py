"""The node's MQTT link: durable outbox, status and stats, signed commands."""

from __future__ import annotations

import json
import logging
import os
import queue
import time
from pathlib import Path

import apsw

from ..config import Profile
from ..contract import HubBoot, Receipt
from ..contract.timefmt import now_iso as iso_now
from ..crypto import KeyFileError, load_public_key
from .commands import Command, CommandRefused, CommandRouter, CommandVerifier, NonceCache, envelope_id
from .mqtt import LinkSettings, MqttLink
from .outbox import Outbox
from .topics import Topics
from .upload import Uploader, UploadStore

log = logging.getLogger("edge.link")

__all__ = ["Command", "CommandRefused", "LinkError", "NodeLink", "Topics"]


class LinkError(Exception):
    """A link that cannot be set up from the profile (a missing password, an unreadable key)."""


def read_password(profile: Profile) -> str | None:
    link = profile.link
    if link.password_env:
        value = os.environ.get(link.password_env)
        if value is None:
            raise LinkError(f"link.password_env: environment variable {link.password_env} is not set")
        return value
    if link.password_file:
        path = profile.resolve(link.password_file)
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise LinkError(f"link.password_file: {path}: {exc.strerror}") from None
    return None


class NodeLink:
    """Everything the node says to and hears from the hub."""

    def __init__(self, profile: Profile, state_dir: Path, version: str, *, status_extra=None,
                 command_queue: int = 64):
        try:
            self._build(profile, state_dir, version, status_extra, command_queue)
        except (apsw.Error, OSError) as exc:  # one line, not a traceback: most often a full disk
            raise LinkError(f"state folder {state_dir}: cannot open the link's databases: {exc}") from None

    def _build(self, profile: Profile, state_dir: Path, version: str, status_extra, command_queue: int) -> None:
        cfg = profile.link
        self.profile = profile
        self.topics = Topics(cfg.prefix, profile.node.id)
        self.outbox = Outbox(state_dir / "outbox.db", cfg.outbox_max_messages, cfg.outbox_max_bytes,
                             receipts=cfg.receipts, receipt_timeout_s=cfg.receipt_timeout_s,
                             receipt_max_s=cfg.receipt_max_s)
        hub_key_path = profile.resolve(cfg.hub_public_key) if cfg.hub_public_key else state_dir / "keys" / "hub.pub"
        hub_key = None
        if hub_key_path.exists():
            try:
                hub_key = load_public_key(hub_key_path)
            except KeyFileError as exc:
                raise LinkError(f"link.hub_public_key: {exc}") from None
        else:
            log.warning("link: no hub public key at %s; every command will be refused", hub_key_path)
        self.verifier = CommandVerifier(profile.node.id, hub_key, NonceCache(state_dir / "commands.db"))
        self.router = CommandRouter()
        self._pending: queue.Queue[Command] = queue.Queue(maxsize=command_queue)
        tls = cfg.tls
        client_id = cfg.client_id or f"edge-{profile.node.id}"
        self.upload_store: UploadStore | None = None
        subscriptions = [self.topics.commands, self.topics.receipt]
        if cfg.receipts:
            subscriptions.append(self.topics.hub_boot)
        self._hub_boots: set[str] = set()  # the hub starts seen (edge.contract.receipt.HubBoot)
        if profile.upload.enabled:
            subscriptions.append(f"$file-response/{client_id}")
        settings = LinkSettings(
            host=cfg.host, port=cfg.port, client_id=client_id,
            username=cfg.username, password=read_password(profile),
            ca_file=str(profile.resolve(tls.ca_file)) if tls else None,
            cert_file=str(profile.resolve(tls.cert_file)) if tls and tls.cert_file else None,
            key_file=str(profile.resolve(tls.key_file)) if tls and tls.key_file else None,
            protocol=cfg.protocol, keepalive_s=cfg.keepalive_s, inflight=cfg.inflight,
            reconnect_initial_s=cfg.reconnect.initial_s, reconnect_max_s=cfg.reconnect.max_s,
            subscriptions=subscriptions, tcp_congestion=cfg.tcp_congestion,
        )
        self.mqtt = MqttLink(settings, self.topics, self.outbox, version=version, on_message=self._on_message,
                             status_extra=status_extra)
        self.uploader: Uploader | None = None
        if profile.upload.enabled:
            up = profile.upload
            self.upload_store = UploadStore(state_dir / "upload.db")
            self.uploader = Uploader(self.mqtt, self.upload_store, node=profile.node.id, segment_bytes=up.segment_bytes,
                                     window=up.window, rate_bytes_s=up.max_bytes_per_s,
                                     response_timeout_s=up.response_timeout_s, queue_delay_s=up.queue_delay_s)

    def start(self) -> NodeLink:
        self.mqtt.start()
        if self.uploader is not None:
            self.uploader.start()
        return self

    def stop(self) -> None:
        if self.uploader is not None:
            self.uploader.stop()
        self.mqtt.stop()
        self.outbox.close()
        self.verifier.nonces.close()
        if self.upload_store is not None:
            self.upload_store.close()

    def queue_bundle(self, folder: Path, manifest_sha256: str, kind: str = "evidence") -> None:
        """A sealed bundle to send to the hub (idempotent; survives restarts in upload.db)."""
        if self.upload_store is None:
            return
        sequence = json.loads((folder / "manifest.json").read_text()).get("sequence", 0)
        if self.upload_store.add_bundle(folder.name, folder, manifest_sha256, sequence, kind):
            log.info("upload: bundle %s queued", folder.name)
        elif self.upload_store.ask_verdict_again(folder.name):
            log.info("upload: bundle %s was sent whole but its verdict never came; asking the hub again", folder.name)
        self.uploader.wake()

    # --- out ----------------------------------------------------------------------------------
    def publish_alert(self, message: dict) -> None:
        """A lifecycle message: committed to the outbox now, delivered when the hub is reachable."""
        payload = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            self.outbox.put(self.topics.alert, payload, kind="alert", msg_id=f"{message['id']}:{message['stage']}")
        except (apsw.Error, OSError) as exc:  # the disk is full or failing: say it now if we can
            sent = self.mqtt.publish_now(self.topics.alert, payload, qos=1)
            log.critical("outbox: cannot store %s %s (%s); %s", message["id"], message["stage"], exc,
                         "published directly" if sent else "NOT DELIVERED: the hub is unreachable too")

    def requeue_logged(self, messages: list[dict]) -> int:
        """Commit the lifecycle messages the node logged but its outbox never took (a power cut between
        the two writes); returns how many."""
        ids = {f"{m['id']}:{m['stage']}": m for m in messages if "id" in m and "stage" in m}
        known = self.outbox.handed(list(ids))
        missing = [m for key, m in ids.items() if key not in known]
        for message in missing:
            log.warning("outbox: %s %s was logged but never queued (interrupted); queued now",
                        message["id"], message["stage"])
            self.publish_alert(message)
        return len(missing)

    def publish_stats(self, stats: dict) -> bool:
        return self.mqtt.publish_now(self.topics.stats, json.dumps(stats).encode(), qos=0)

    def refresh_status(self) -> None:
        """Re-publish `online` with fresh details (the node calls this when evidence degrades or recovers)."""
        self.mqtt.refresh_status()

    def reply(self, command_id: str | None, name: str | None, ok: bool, error: str | None = None,
              data: dict | None = None) -> None:
        body = {"id": command_id, "ok": ok, "node": self.profile.node.id, "name": name, "ts": iso_now()}
        if error is not None:
            body["error"] = error
        if data:
            body["data"] = data
        self.outbox.put(self.topics.cmd_result, json.dumps(body, ensure_ascii=False).encode(), kind="cmd_result",
                        msg_id=command_id)
        log.info("command %s (%s): %s", name, command_id, "ok" if ok else f"refused: {error}")

    # --- in -----------------------------------------------------------------------------------
    def _on_message(self, topic: str, payload: bytes) -> None:
        """Network thread: verify at once, refuse at once, queue the rest for the node's thread."""
        if topic.startswith("$file-response/"):
            if self.uploader is not None:
                self.uploader.on_response(payload)
            return
        if topic == self.topics.receipt:
            self._on_receipt(payload)
            return
        if topic == self.topics.hub_boot:
            self._on_hub_boot(payload)
            return
        name = self.topics.command_name(topic)
        if name is None:
            return
        try:
            command = self.verifier.verify(name, payload)
        except CommandRefused as exc:
            self._reply_safely(envelope_id(payload), name, False, str(exc))
            return
        except Exception as exc:  # a verifier bug must still answer: every command gets one result
            log.exception("command on %s: verifying failed", topic)
            self._reply_safely(envelope_id(payload), name, False, f"malformed: {type(exc).__name__}")
            return
        try:
            self._pending.put_nowait(command)
        except queue.Full:
            self._reply_safely(command.id, command.name, False, "busy: too many commands waiting; try again")

    def _reply_safely(self, command_id, name, ok, error) -> None:
        try:
            self.reply(command_id, name, ok, error)
        except (apsw.Error, OSError) as exc:  # the disk is full: say it directly if we can
            body = {"id": command_id, "ok": ok, "node": self.profile.node.id, "name": name, "ts": iso_now(),
                    "error": error}
            sent = self.mqtt.publish_now(self.topics.cmd_result, json.dumps(body).encode(), qos=1)
            log.error("command %s: cannot store its result (%s); %s", command_id, exc,
                      "published directly" if sent else "the result is lost")

    def _on_receipt(self, payload: bytes) -> None:
        """The hub stored these lifecycle messages: they may leave the outbox now."""
        try:
            receipt = Receipt.model_validate_json(payload)
        except ValueError as exc:
            log.warning("link: ignored a malformed receipt: %s", str(exc).splitlines()[0])
            return
        if receipt.node != self.profile.node.id:
            log.warning("link: ignored a receipt for node %r", receipt.node)
            return
        try:
            self.outbox.receipt([f"{item.id}:{item.stage}" for item in receipt.items])
        except (apsw.Error, OSError) as exc:  # kept: the receipt comes again with the next send
            log.error("link: cannot apply a receipt (%s); the messages stay and are sent again", exc)

    def _on_hub_boot(self, payload: bytes) -> None:
        """A hub process started (or this node just connected and reads the retained start): whatever
        waits for a receipt goes again now rather than after its back-off, since that hub may have
        missed the receipts or the messages."""
        try:
            boot = HubBoot.model_validate_json(payload)
        except ValueError as exc:
            log.warning("link: ignored a malformed hub start message: %s", str(exc).splitlines()[0])
            return
        if boot.boot in self._hub_boots:
            return
        first = not self._hub_boots
        self._hub_boots.add(boot.boot)
        waiting = self.outbox.awaiting()
        if not first or waiting:
            log.info("link: the hub (re)started at %s; %d message(s) awaiting its receipt go again now",
                     boot.ts, waiting)
        self.mqtt.resend_all()

    def upload_stats(self) -> dict:
        """The uplink as the uploader measures it, the evidence bytes queued and the oldest one's wait
        (empty without uploads): for the node's stats message."""
        return self.uploader.stats() if self.uploader is not None else {}

    def health(self) -> list[str]:
        """What is wrong with the link's threads now (empty: healthy)."""
        problems = sorted(self.mqtt.problems.values())
        if self.uploader is not None:
            problems += self.uploader.problems()
        return problems

    def run_commands(self, budget_s: float = 0.05) -> int:
        """Node thread: run queued commands, for at most about `budget_s`."""
        done, deadline = 0, time.monotonic() + budget_s
        while time.monotonic() < deadline:
            try:
                command = self._pending.get_nowait()
            except queue.Empty:
                break
            self.router.dispatch(command, lambda ok, error, data, c=command: self.reply(c.id, c.name, ok, error, data))
            done += 1
        return done
