"""Evidence upload over MQTT, in the EMQX file-transfer protocol (async mode).

For each file: `$file-async/{file_id}/init` with its name, size and SHA-256; segments on
`$file-async/{file_id}/{offset}/{sha256 of the segment}`; `$file-async/{file_id}/fin/{size}/{sha256}`.
The receiver (EMQX's file transfer, or `edge-hub receive` on mosquitto) answers each command on
`$file-response/{client id}`: reason 0 is done, 0x80 means send that segment again (or, for fin,
the whole file), 0x97 means wait.  So a node works unchanged against an EMQX cluster.

What the receiver has confirmed is kept in SQLite, so after a disconnect, a broker restart or a
power cut only the segments still unconfirmed are sent again.  Files go one at a time, highest
priority first (manifests and snapshots of alerts, then clips, then dock footage), within a
bandwidth cap.  A bundle counts as uploaded only when the hub says it verified the whole bundle
(the signed `evidence_ack` command); only then may retention delete it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import apsw

from .outbox import connect

log = logging.getLogger("edge.link.upload")

# Priorities: lower goes first.
PRIORITY = {"manifest": 0, "snapshot": 1, "clip": 2, "dock": 3, "file": 2}
RC_SUCCESS, RC_RESEND, RC_CANCEL, RC_REFUSED, RC_QUOTA = 0x00, 0x80, 0x83, 0x87, 0x97
INIT, FIN = -1, -2  # not offsets: the commands among a file's answers awaited

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    file_id TEXT PRIMARY KEY,
    bundle TEXT NOT NULL,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    priority INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',   -- pending | stored | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS segments (
    file_id TEXT NOT NULL,
    offset INTEGER NOT NULL,
    PRIMARY KEY (file_id, offset)           -- a row: the receiver stored this segment
);
CREATE TABLE IF NOT EXISTS bundles (
    bundle TEXT PRIMARY KEY,
    manifest_sha256 TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'uploading', -- uploading | sent | verified | rejected
    reason TEXT,
    created REAL NOT NULL
);
"""


def file_id_for(bundle: str, name: str) -> str:
    """Unique per node and stable across restarts; no '/' (a topic level)."""
    return f"{bundle}.{name}".replace("/", "_")


@dataclass
class UploadFile:
    file_id: str
    bundle: str
    name: str
    path: Path
    size: int
    sha256: str
    seq: int


class UploadStore:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = connect(path)
        # Progress, not evidence: a power cut may take back the last commits (WAL keeps the file
        # whole), and then a few segments or a file go again; at start every sealed bundle the hub
        # has not verified is queued again from the evidence store.  No fsync per file, then.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.Lock()
        with self._db:
            self._db.execute(SCHEMA)

    def add_bundle(self, bundle: str, folder: Path, manifest_sha256: str, seq: int, kind: str = "evidence") -> int:
        """Queue every file of a sealed bundle (idempotent); returns how many were added."""
        manifest = json.loads((folder / "manifest.json").read_text())
        entries = [("manifest.json", "manifest", None), ("manifest.sig", "manifest", None)]
        # The manifest already holds every file's SHA-256: no second read of a long clip here.
        entries += [(f["name"], "dock" if kind == "dock" else f.get("kind", "file"), f["sha256"])
                    for f in manifest["files"]]
        added = 0
        with self._lock, self._db:
            self._db.execute("INSERT OR IGNORE INTO bundles (bundle, manifest_sha256, kind, created) VALUES (?,?,?,?)",
                             (bundle, manifest_sha256, kind, time.time()))
            for name, file_kind, known_sha in entries:
                path = folder / name
                data_sha = known_sha or _sha256(path)
                self._db.execute(
                    "INSERT OR IGNORE INTO files (file_id, bundle, name, path, size, sha256, priority, seq, created) "
                    "VALUES (?,?,?,?,?,?,?,?,?)",
                    (file_id_for(bundle, name), bundle, name, str(path), path.stat().st_size, data_sha,
                     PRIORITY.get(file_kind, 2), seq, time.time()))
                added += self._db.changes()
        return added

    def next_file(self) -> UploadFile | None:
        with self._lock:
            row = self._db.execute(
                "SELECT file_id, bundle, name, path, size, sha256, seq FROM files WHERE state = 'pending' "
                "ORDER BY priority, seq, name LIMIT 1").fetchone()
        return UploadFile(row[0], row[1], row[2], Path(row[3]), row[4], row[5], row[6]) if row else None

    def stored_offsets(self, file_id: str) -> set[int]:
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT offset FROM segments WHERE file_id = ?", (file_id,))}

    def segments_stored(self, file_id: str, offsets: list[int]) -> None:
        with self._lock, self._db:
            self._db.executemany("INSERT OR IGNORE INTO segments (file_id, offset) VALUES (?, ?)",
                                 [(file_id, o) for o in offsets])

    def forget_segments(self, file_id: str) -> None:
        with self._lock, self._db:
            self._db.execute("DELETE FROM segments WHERE file_id = ?", (file_id,))

    def file_stored(self, file_id: str) -> str | None:
        """Mark a file received whole; returns its bundle if that completes the bundle's upload."""
        with self._lock, self._db:
            self._db.execute("UPDATE files SET state = 'stored' WHERE file_id = ?", (file_id,))
            self._db.execute("DELETE FROM segments WHERE file_id = ?", (file_id,))
            bundle = self._db.execute("SELECT bundle FROM files WHERE file_id = ?", (file_id,)).fetchone()[0]
            left = self._db.execute("SELECT count(*) FROM files WHERE bundle = ? AND state != 'stored'",
                                    (bundle,)).fetchone()[0]
            if left == 0:
                self._db.execute("UPDATE bundles SET state = 'sent' WHERE bundle = ? AND state = 'uploading'",
                                 (bundle,))
                return bundle
        return None

    def file_failed(self, file_id: str) -> None:
        """The receiver refused this file for good: it is not sent again."""
        with self._lock, self._db:
            self._db.execute("UPDATE files SET state = 'failed' WHERE file_id = ?", (file_id,))

    def bundle_verdict(self, bundle: str, verified: bool, reason: str | None) -> str | None:
        """The hub's word on a whole bundle; returns the manifest hash it was about (or None if unknown)."""
        with self._lock, self._db:
            row = self._db.execute("SELECT manifest_sha256 FROM bundles WHERE bundle = ?", (bundle,)).fetchone()
            if row is None:
                return None
            self._db.execute("UPDATE bundles SET state = ?, reason = ? WHERE bundle = ?",
                             ("verified" if verified else "rejected", reason, bundle))
            return row[0]

    def ask_verdict_again(self, bundle: str) -> bool:
        """A bundle sent whole whose verdict never came (the hub's ack was lost, e.g. received as the node
        stopped): send its manifest again, so that the hub checks it and says its word again."""
        with self._lock, self._db:
            self._db.execute("UPDATE bundles SET state = 'uploading' WHERE bundle = ? AND state = 'sent'", (bundle,))
            if self._db.changes() != 1:
                return False
            self._db.execute("UPDATE files SET state = 'pending' WHERE bundle = ? AND name IN (?, ?)",
                             (bundle, "manifest.json", "manifest.sig"))
            return True

    def bundle_state(self, bundle: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT state FROM bundles WHERE bundle = ?", (bundle,)).fetchone()
        return row[0] if row else None

    def counts(self) -> dict[str, int]:
        with self._lock:
            files = dict(self._db.execute("SELECT state, count(*) FROM files GROUP BY state").fetchall())
            pending_bytes = self._db.execute("SELECT coalesce(sum(size), 0) FROM files WHERE state = 'pending'"
                                             ).fetchone()[0]
        return {"files_pending": files.get("pending", 0), "files_stored": files.get("stored", 0),
                "bytes_pending": pending_bytes}

    def close(self) -> None:
        self._db.close()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


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


class Uploader:
    """Sends queued files, one at a time, through the node's MQTT link."""

    def __init__(self, mqtt, store: UploadStore, *, node: str, segment_bytes: int = 256 * 1024, window: int = 4,
                 rate_bytes_s: float = 0, response_timeout_s: float = 30.0):
        self.mqtt = mqtt
        self.store = store
        self.node = node
        self.client_id = mqtt.settings.client_id
        self.segment_bytes = segment_bytes
        self.window = window
        self.limiter = RateLimiter(rate_bytes_s, burst=max(rate_bytes_s, segment_bytes))
        self.response_timeout_s = response_timeout_s
        self.response_topic = f"$file-response/{self.client_id}"
        self._responses: queue.Queue[dict] = queue.Queue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._problem: str | None = None  # what keeps the thread from working now, if anything
        self.bytes_sent = 0  # segment payload bytes handed to the broker, resends included
        self.files_done = 0

    def start(self) -> Uploader:
        self._thread = threading.Thread(target=self._run, name="uploader", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)

    def wake(self) -> None:
        self._wake.set()

    def on_response(self, payload: bytes) -> None:
        """Network thread: a receiver's answer on $file-response/{client id}."""
        try:
            response = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            return
        if isinstance(response, dict) and isinstance(response.get("topic"), str):
            self._responses.put(response)
            self._wake.set()

    # --- the uploader thread --------------------------------------------------------------------
    def problems(self) -> list[str]:
        return [self._problem] if self._problem else []

    def _run(self) -> None:
        """The thread never dies on a database or disk error: it says so in problems() and retries."""
        failures = 0
        while not self._stop.is_set():
            try:
                self._run_loop()
                return
            except (apsw.Error, OSError) as exc:
                failures += 1
                problem = f"uploader: {type(exc).__name__}: {exc}"
                if problem != self._problem:
                    log.error("upload: %s; retrying", problem)
                self._problem = problem
                self._stop.wait(min(30.0, 0.5 * 2 ** min(failures, 6)))

    def _run_loop(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            if not self.mqtt.connected.is_set():
                self._stop.wait(0.2)
                continue
            job = self.store.next_file()
            if self._problem is not None:  # the database answered again
                log.warning("upload: the uploader works again")
                self._problem = None
            if job is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            try:
                outcome = self._send_file(job)
            except OSError as exc:  # the file vanished or cannot be read
                log.error("upload: %s: %s", job.path, exc)
                outcome = "failed"
            if outcome == "stored":
                backoff = 1.0
                self.files_done += 1
                bundle = self.store.file_stored(job.file_id)
                log.info("upload: %s stored by the hub (%d bytes)", job.name, job.size)
                if bundle is not None:
                    log.info("upload: bundle %s sent whole; waiting for the hub to verify it", bundle)
            elif outcome == "retry":
                log.warning("upload: %s: retrying in %.0f s", job.file_id, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 60.0)

    def _publish(self, topic: str, payload: bytes) -> bool:
        return self.mqtt.publish_now(topic, payload, qos=1)

    def _send_file(self, job: UploadFile) -> str:
        """stored | retry (stopped, timed out, refused for now).

        The receiver takes a client's commands in order, so segments follow init without waiting
        for its answer, and a file of one segment sends fin straight after it: such a file costs
        one round trip, not three.  A larger file waits for every segment's answer before fin, so
        that a damaged segment is sent again alone rather than the whole file.

        A disconnect does not restart the file: paho re-sends what the broker had not acknowledged,
        the broker delivers what it had, and the answers come when the link is back.  A command
        still unanswered a while after that starts the file again from init.
        """
        base = f"$file-async/{job.file_id}"
        init = {"name": job.name, "size": job.size, "checksum": job.sha256,
                "expire_at": int(time.time()) + 7 * 86400, "segments_ttl": 7 * 86400,
                "user_data": {"node": self.node, "client_id": self.client_id, "bundle": job.bundle,
                              "sequence": job.seq}}
        init_topic, fin_topic = f"{base}/init", f"{base}/fin/{job.size}/{job.sha256}"
        if not self._wait_connected() or not self._publish(init_topic, json.dumps(init).encode()):
            return "retry"
        stored = self.store.stored_offsets(job.file_id)
        offsets = [o for o in range(0, job.size, self.segment_bytes) if o not in stored]
        eager_fin = job.size <= self.segment_bytes
        waiting: dict[str, int] = {init_topic: INIT}  # topic -> offset, or INIT / FIN
        # Time spent waiting for answers since the last one came (not time spent within the bandwidth
        # cap, which can be long on a slow uplink).
        silent_s = 0.0
        confirmed: list[int] = []  # written to the database in batches, not one commit per segment
        last_flush = time.monotonic()
        connects = self.mqtt.connects
        fin_sent = False
        with open(job.path, "rb") as f:
            while offsets or waiting:
                if confirmed and time.monotonic() - last_flush > 0.5:
                    self.store.segments_stored(job.file_id, confirmed)
                    confirmed, last_flush = [], time.monotonic()
                if self._stop.is_set():
                    self.store.segments_stored(job.file_id, confirmed)
                    return "retry"
                if not self.mqtt.connected.is_set():
                    self._stop.wait(0.2)
                    continue
                if self.mqtt.connects != connects:  # back after a disconnect: a fresh wait for answers
                    connects = self.mqtt.connects
                    silent_s = 0.0
                while offsets and len(waiting) < self.window:
                    offset = offsets.pop(0)
                    f.seek(offset)
                    data = f.read(self.segment_bytes)
                    topic = f"{base}/{offset}/{hashlib.sha256(data).hexdigest()}"
                    if not self.limiter.wait(len(data), self._stop) or not self._publish(topic, data):
                        offsets.insert(0, offset)
                        break
                    self.bytes_sent += len(data)
                    waiting[topic] = offset
                if eager_fin and not offsets and not fin_sent and self._publish(fin_topic, b""):
                    waiting[fin_topic] = FIN
                    fin_sent = True
                waited_from = time.monotonic()
                answered = False
                for response in self._drain(0.5):
                    entry = waiting.pop(response["topic"], None)
                    if entry is None:
                        continue
                    answered = True
                    code = response.get("reason_code", RC_RESEND)
                    if code == RC_REFUSED:  # for good (a verified bundle at the hub is immutable)
                        return self._refused(job, response)
                    if entry == INIT:
                        if code != RC_SUCCESS:
                            self.store.segments_stored(job.file_id, confirmed)
                            return "retry"
                    elif entry == FIN:
                        return self._fin_outcome(job, response)
                    elif code == RC_SUCCESS:
                        confirmed.append(entry)
                    elif code == RC_CANCEL:
                        self.store.segments_stored(job.file_id, confirmed)
                        return "retry"
                    else:  # corrupted on the way (0x80), or the receiver is full for now (0x97)
                        offsets.insert(0, entry)
                        if code == RC_QUOTA:
                            self._stop.wait(5.0)
                silent_s = 0.0 if answered else silent_s + time.monotonic() - waited_from
                if waiting and silent_s > self.response_timeout_s:
                    # Answers stopped (not merely slow: a slow uplink still answers now and then).
                    # The receiver may have lost the transfer (a hub restored without its work
                    # folder): start again with init, which it answers in any case; what it
                    # confirmed is not sent again.
                    self.store.segments_stored(job.file_id, confirmed)
                    log.warning("upload: %s: no answer for %.0f s; starting the file again", job.name,
                                self.response_timeout_s)
                    return "retry"
        self.store.segments_stored(job.file_id, confirmed)
        response = self._command(fin_topic, b"")
        return "retry" if response is None else self._fin_outcome(job, response)

    def _refused(self, job: UploadFile, response: dict) -> str:
        log.error("upload: %s of bundle %s refused by the hub for good: %s", job.name, job.bundle,
                  response.get("reason_description"))
        self.store.file_failed(job.file_id)
        return "refused"

    def _fin_outcome(self, job: UploadFile, response: dict) -> str:
        if response.get("reason_code") == RC_SUCCESS:
            return "stored"
        if response.get("reason_code") == RC_REFUSED:
            return self._refused(job, response)
        log.warning("upload: %s: the receiver refused the whole file (%s); sending it all again", job.name,
                    response.get("reason_description"))
        self.store.forget_segments(job.file_id)
        return "retry"

    def _wait_connected(self) -> bool:
        while not self.mqtt.connected.is_set():
            if self._stop.wait(0.2):
                return False
        return True

    def _command(self, topic: str, payload: bytes) -> dict | None:
        """Publish one command and wait for its answer (across reconnects, up to the timeout)."""
        if not self._wait_connected() or not self._publish(topic, payload):
            return None
        deadline = time.monotonic() + self.response_timeout_s
        connects = self.mqtt.connects
        while time.monotonic() < deadline and not self._stop.is_set():
            for response in self._drain(0.5):
                if response["topic"] == topic:
                    return response
            if self.mqtt.connects != connects:
                connects = self.mqtt.connects
                deadline = time.monotonic() + self.response_timeout_s
        return None

    def _drain(self, timeout: float) -> list[dict]:
        out = []
        try:
            out.append(self._responses.get(timeout=timeout))
            while True:
                out.append(self._responses.get_nowait())
        except queue.Empty:
            pass
        return out
