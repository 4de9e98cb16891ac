"""`edge-hub receive`: the receiving end of evidence uploads, on mosquitto.

It speaks the node side of EMQX's file transfer (what an EMQX cluster with its S3 exporter does for
you): it takes `$file-async/...` (and `$file/...`) commands, keeps each transfer's segments on disk,
checks every segment's and file's SHA-256, assembles files, and answers on `$file-response/{client}`.
When a bundle is complete it verifies the manifest's signature with the node's public key, that the
manifest names this bundle and this node, and its place in the node's chain; a verified bundle is
acknowledged to its node with a signed `evidence_ack` command (only then may the node's retention
delete it); a tampered one is set aside in rejected/ and the node is told.

A verified bundle is immutable: a second upload of one of its files that is identical is answered
success and changes nothing; a different one, or a file the bundle does not have, is refused
(0x87, the reason in the `$file-response`), logged as a tamper attempt and counted (`tamper` table).

Several receivers can share the load through a shared subscription (--shared GROUP); transfers
keep their state in the shared folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import queue
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

from ..contract.topics import HubTopics, Topics
from ..contract.transfer import (
    RC_CANCEL,
    RC_REFUSED,
    RC_RESEND,
    RC_SUCCESS,
    SUBSCRIPTIONS,
    TOPIC_ROOTS,
    response_topic,
)
from ..crypto import KeyFileError, load_private_key, load_public_key
from ..evidence.files import fsync_dir, write_atomic
from ..evidence.manifest import MANIFEST, SIGNATURE, BundleProblem, verify_bundle
from ..link.commands import make_command
from ..link.outbox import connect as connect_db
from .connection import connect
from .immutable import Immutability, identity_problem, sha256_file
from .immutable import safe_name as _safe
from .settings import ReceiveSettings

log = logging.getLogger("edge.hub.receive")


SCHEMA = """
CREATE TABLE IF NOT EXISTS bundles (
    node TEXT NOT NULL,
    bundle TEXT NOT NULL,
    seq INTEGER,
    manifest_sha256 TEXT,
    previous TEXT,
    state TEXT NOT NULL,          -- verified | rejected | unverifiable
    reason TEXT,
    received REAL NOT NULL,
    PRIMARY KEY (node, bundle)
);
"""


class Receiver:
    def __init__(self, root: Path, node_keys: Path, hub_key, publish, prefix: str = "edge"):
        self.root = root
        self.node_keys = node_keys
        self.hub_key = hub_key
        self.publish = publish  # (topic, payload bytes) -> None
        self.prefix = prefix
        (root / "receiving").mkdir(parents=True, exist_ok=True)
        self.db = connect_db(root / "receive.db")
        with self.db:
            self.db.execute(SCHEMA)
        self.segments_received = 0
        self.segment_bytes_received = 0
        self.guard = Immutability(self.db, root)
        # Transfers whose every segment came with a SHA-256 that matched: the file is then exactly
        # what the node hashed, so fin need not read it again (after a restart it does).
        self._checked: dict[str, bool] = {}
        # init.json of transfers under way, so a segment does not read and parse it again.
        self._meta: dict[str, dict] = {}

    # --- commands ---------------------------------------------------------------------------
    def handle(self, topic: str, payload: bytes) -> None:
        parts = topic.split("/")
        if len(parts) < 3 or parts[0] not in TOPIC_ROOTS:
            return
        file_id, rest = parts[1], parts[2:]
        folder = self.root / "receiving" / _safe(file_id)
        if rest[0] == "init":
            self._init(topic, folder, payload)
            return
        meta = self._meta.get(folder.name) or _read_meta(folder)
        if meta is None:
            log.warning("receive: %s for a transfer never initialised", topic)
            return  # nobody to answer: when answers stop for a while the node starts again with init
        if rest[0] == "fin" and len(rest) >= 2:
            self._fin(topic, folder, meta, int(rest[1]), rest[2] if len(rest) > 2 else None)
        elif rest[0] == "abort":
            self._forget(folder)
            shutil.rmtree(folder, ignore_errors=True)
            self._answer(meta, topic, RC_SUCCESS, "aborted")
        elif rest[0].isdigit():
            self._segment(topic, folder, meta, int(rest[0]), rest[1] if len(rest) > 1 else None, payload)
        else:
            self._answer(meta, topic, RC_CANCEL, "unknown command")

    def _forget(self, folder: Path) -> None:
        self._meta.pop(folder.name, None)
        self._checked.pop(folder.name, None)

    def _answer(self, meta: dict, topic: str, code: int, description: str) -> None:
        client = meta.get("user_data", {}).get("client_id")
        if not client:
            return
        body = {"vsn": "0.1", "topic": topic, "packet_id": 0, "reason_code": code, "reason_description": description}
        self.publish(response_topic(client), json.dumps(body).encode())

    def _init(self, topic: str, folder: Path, payload: bytes) -> None:
        try:
            meta = json.loads(payload)
            node = meta["user_data"]["node"]
            if not isinstance(node, str) or "/" in node or not isinstance(meta["name"], str):
                raise ValueError("bad node or name")
            int(meta["size"])
        except (ValueError, KeyError, TypeError):
            log.warning("receive: %s: not a valid init", topic)
            return
        refusal = self.guard.refusal(meta, str(meta.get("checksum") or "").lower() or None)
        if refusal is not None:
            self._refuse(meta, topic, refusal)
            return
        folder.mkdir(parents=True, exist_ok=True)
        # Not synced, like the segments: a crash here loses both, fin's check notices, and a node
        # whose segments go unanswered starts the file again with init.
        write_atomic(folder / "init.json", json.dumps(meta).encode(), sync=False)
        if len(self._meta) >= 256:  # transfers abandoned by their nodes: read from disk if they come back
            self._meta.clear()
        self._meta[folder.name] = meta
        self._answer(meta, topic, RC_SUCCESS, "success")

    def _segment(self, topic: str, folder: Path, meta: dict, offset: int, checksum: str | None,
                 data: bytes) -> None:
        """Write the segment in place in the transfer's data file.  Not synced here: fin checks the
        whole file against its checksum and syncs once; anything lost to a crash is asked for again."""
        self.segments_received += 1
        self.segment_bytes_received += len(data)
        if checksum is not None and hashlib.sha256(data).hexdigest() != checksum.lower():
            log.warning("receive: %s: segment at %d damaged on the way; asking for it again", meta["name"], offset)
            self._answer(meta, topic, RC_RESEND, "segment checksum mismatch")
            return
        if offset + len(data) > int(meta["size"]):
            self._answer(meta, topic, RC_CANCEL, "segment beyond the file's size")
            return
        fd = os.open(folder / "data", os.O_WRONLY | os.O_CREAT, 0o640)
        try:
            os.pwrite(fd, data, offset)
            # Start writing it to disk now (Linux starts the writeback and does not wait): the one
            # fsync at fin then has little left to do, instead of the whole file.
            os.posix_fadvise(fd, offset, len(data), os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        self._checked[folder.name] = self._checked.get(folder.name, True) and checksum is not None
        # One write(2) on an O_APPEND descriptor: whole lines, and in the page cache once written, so
        # they survive a kill of this process.
        fd = os.open(folder / "segments", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        try:
            os.write(fd, f"{offset} {len(data)}\n".encode())
        finally:
            os.close(fd)
        self._answer(meta, topic, RC_SUCCESS, "success")

    def _fin(self, topic: str, folder: Path, meta: dict, size: int, checksum: str | None) -> None:
        node = meta["user_data"]["node"]
        bundle = _safe(str(meta["user_data"].get("bundle", "loose")))
        target_dir = self.root / "bundles" / _safe(node) / bundle
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / _safe(meta["name"])
        covered = _coverage(folder / "segments")
        data_file = folder / "data"
        if size == 0:
            data_file.touch()
        expected = (checksum or meta.get("checksum") or "").lower()
        actual = expected
        checked = self._checked.get(folder.name, False)
        self._forget(folder)
        if not checked and covered >= size and data_file.exists():
            digest = hashlib.sha256()
            with open(data_file, "rb") as f:
                while block := f.read(1 << 20):
                    digest.update(block)
            actual = digest.hexdigest()
        if covered < size or data_file.stat().st_size != size or (expected and actual != expected):
            problem = "missing segments" if covered < size else "file checksum mismatch"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True, exist_ok=True)
            write_atomic(folder / "init.json", json.dumps(meta).encode())
            log.warning("receive: %s/%s: %s; asking for the whole file again", node, meta["name"], problem)
            self._answer(meta, topic, RC_RESEND, problem)
            return
        if self.guard.state(node, bundle) == "verified":  # immutable: the same file again, or a refusal
            if not checked or not expected:
                actual = sha256_file(data_file)
            refusal = self.guard.refusal(meta, actual)
            shutil.rmtree(folder, ignore_errors=True)
            if refusal is not None:
                self._refuse(meta, topic, refusal)
                return
            self._answer(meta, topic, RC_SUCCESS, "success: already stored, unchanged")
            log.info("receive: %s/%s/%s: received again, identical; unchanged", node, bundle, meta["name"])
            self._check_bundle(node, bundle, target_dir)  # the node may have missed its ack
            return
        with open(data_file, "rb") as f:
            os.fsync(f.fileno())
        data_file.replace(target)
        fsync_dir(target_dir)
        shutil.rmtree(folder, ignore_errors=True)
        self._answer(meta, topic, RC_SUCCESS, "success")
        log.info("receive: %s/%s/%s: %d bytes, sha256 ok", node, bundle, meta["name"], size)
        self._check_bundle(node, bundle, target_dir)

    def _refuse(self, meta: dict, topic: str, reason: str) -> None:
        self.guard.record(meta, reason)
        self._answer(meta, topic, RC_REFUSED, reason)

    # --- whole bundles -----------------------------------------------------------------------------
    def _check_bundle(self, node: str, bundle: str, folder: Path) -> None:
        if not (folder / MANIFEST).exists() or not (folder / SIGNATURE).exists():
            return
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
        except ValueError:
            manifest = {"files": []}
        if any(not (folder / f["name"]).exists() for f in manifest.get("files", [])):
            return  # more files to come
        if manifest.get("kind") == "dataset":  # issue 21: training frames, not evidence (edge/hub/dataset.py)
            self._dataset_pack(node, bundle, folder)
            return
        row = self.db.execute("SELECT state, manifest_sha256 FROM bundles WHERE node = ? AND bundle = ?",
                              (node, bundle)).fetchone()
        # The node may have missed the first ack: say it again, with the manifest's hash (the node
        # accepts an ack only for its own manifest).  Another manifest is verified afresh below.
        if row is not None and row[0] == "verified" and \
                hashlib.sha256((folder / MANIFEST).read_bytes()).hexdigest() == row[1]:
            self._ack(node, bundle, manifest, True, None, row[1])
            return
        key_path = self.node_keys / f"{node}.pub"
        try:
            key = load_public_key(key_path)
        except KeyFileError:
            log.error("receive: no public key for node %s at %s; bundle %s kept unverified", node, key_path, bundle)
            self._record(node, bundle, manifest, "unverifiable", f"no key at {key_path}")
            return
        digest = hashlib.sha256((folder / MANIFEST).read_bytes()).hexdigest()
        try:
            verify_bundle(folder, key)
            problem = identity_problem(node, bundle, manifest) or self._chain_problem(node, manifest, digest)
        except BundleProblem as exc:
            problem = str(exc).replace(str(folder) + "/", "")
        if problem:
            rejected = self.root / "rejected" / node / f"{bundle}-{int(time.time())}"
            rejected.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(folder), str(rejected))
            log.error("receive: bundle %s from %s REJECTED: %s (kept in %s)", bundle, node, problem, rejected)
            self._record(node, bundle, manifest, "rejected", problem, digest)
            self._ack(node, bundle, manifest, False, problem, digest)
            return
        self._record(node, bundle, manifest, "verified", None, digest)
        log.info("receive: bundle %s from %s verified (sequence %s)", bundle, node, manifest.get("sequence"))
        self._ack(node, bundle, manifest, True, None, digest)

    def _dataset_pack(self, node: str, bundle: str, folder: Path) -> None:
        from .dataset import accept_pack

        try:
            problem = accept_pack(self.root, node, bundle, folder, load_public_key(self.node_keys / f"{node}.pub"))
        except KeyFileError as exc:
            problem = str(exc)
        if problem:
            log.error("receive: dataset pack %s from %s refused: %s", bundle, node, problem)

    def _chain_problem(self, node: str, manifest: dict, digest: str) -> str | None:
        """The bundle must follow the node's previous one and precede its next one, where the hub has them
        (bundles arrive in priority order, not always in sequence)."""
        seq = manifest.get("sequence")
        if not isinstance(seq, int):
            return "manifest has no sequence number"
        before = self.db.execute("SELECT manifest_sha256 FROM bundles WHERE node = ? AND seq = ? AND state = "
                                 "'verified'", (node, seq - 1)).fetchone()
        if before is not None and manifest.get("previous") != before[0]:
            return f"chain broken: bundle #{seq} does not follow bundle #{seq - 1} received earlier"
        after = self.db.execute("SELECT previous FROM bundles WHERE node = ? AND seq = ? AND state = 'verified'",
                                (node, seq + 1)).fetchone()
        if after is not None and after[0] != digest:
            return f"chain broken: bundle #{seq + 1} received earlier does not follow this bundle #{seq}"
        return None

    def _record(self, node, bundle, manifest, state, reason, digest=None) -> None:
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO bundles (node, bundle, seq, manifest_sha256, previous, state, reason, received) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (node, bundle, manifest.get("sequence"), digest, manifest.get("previous"), state, reason, time.time()))

    def _ack(self, node: str, bundle: str, manifest: dict, verified: bool, reason: str | None,
             digest: str | None = None) -> None:
        if self.hub_key is None:
            return
        args = {"bundle": bundle, "manifest_sha256": digest, "verified": verified}
        if reason:
            args["reason"] = reason
        command = make_command(self.hub_key, node, "evidence_ack", args, lifetime_s=3000)
        self.publish(Topics(self.prefix, node).command("evidence_ack"), json.dumps(command).encode())

    def bundles(self) -> list[tuple]:
        return list(self.db.execute("SELECT node, bundle, seq, state, reason FROM bundles ORDER BY node, seq"))

    def close(self) -> None:
        self.db.close()


def _coverage(log_path: Path) -> int:
    """How far from 0 the received segments cover the file without a gap."""
    try:
        spans = sorted((int(a), int(b)) for a, b in (line.split() for line in log_path.read_text().splitlines()
                                                        if line.strip()))
    except (FileNotFoundError, ValueError):
        return 0
    reach = 0
    for offset, length in spans:
        if offset > reach:
            break
        reach = max(reach, offset + length)
    return reach


def _read_meta(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "init.json").read_text())
    except (FileNotFoundError, ValueError):
        return None


def cmd_receive(args: argparse.Namespace) -> int:
    from ..logs import setup_logging

    setup_logging("hub")  # without it the verified/rejected lines (INFO) were never shown
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return receive(ReceiveSettings.from_args(args), stop)


def receive(settings: ReceiveSettings, stop: threading.Event | None = None) -> int:
    """Receive, verify and store uploads until `stop` or `duration`; the exit status (2: no key or
    broker).  Runs on the calling thread."""
    stop = stop or threading.Event()
    root = settings.dir
    try:
        hub_key = load_private_key(settings.key)
    except KeyFileError as exc:
        print(f"edge-hub: {exc}", file=sys.stderr)
        return 2
    inbox: queue.Queue = queue.Queue()
    topics = [HubTopics.shared(settings.shared, t) for t in SUBSCRIPTIONS]
    broker = settings.broker
    try:
        client = connect(broker, broker.client_id or "edge-hub-receive", persistent=True, subscriptions=tuple(topics),
                         on_message=lambda c, u, m: inbox.put((m.topic, m.payload)), wait_for_broker=True)
    except ConnectionError as exc:
        print(f"edge-hub: {exc}", file=sys.stderr)
        return 2
    receiver = Receiver(root, settings.node_keys or root / "node-keys", hub_key,
                        lambda topic, payload: client.publish(topic, payload, qos=1), prefix=broker.prefix)
    print(f"edge-hub: receiving evidence on {broker.broker} into {root}", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        while not stop.is_set():
            if settings.duration is not None and time.monotonic() - started >= settings.duration:
                break
            try:
                topic, payload = inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                receiver.handle(topic, payload)
            except OSError as exc:
                log.error("receive: %s: %s", topic, exc)
    finally:
        client.loop_stop()
        client.disconnect()
        receiver.close()
    return 0


def add_receive(sub: argparse._SubParsersAction, common) -> None:
    p = sub.add_parser("receive", parents=[common], help="receive, verify and store evidence uploads")
    p.add_argument("--dir", default="hub-evidence", help="where bundles are stored (default hub-evidence/)")
    p.add_argument("--node-keys", help="folder of node public keys, NODE.pub (default DIR/node-keys)")
    p.add_argument("--key", default="hub.key", help="the hub's signing key, for acknowledgements")
    p.add_argument("--shared", metavar="GROUP", help="shared subscription group, to run several receivers")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.set_defaults(func=cmd_receive)
