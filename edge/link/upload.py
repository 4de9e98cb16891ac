"""Evidence upload over MQTT, in the EMQX file-transfer protocol (async mode).

For each file: `$file-async/{file_id}/init` with its name, size and SHA-256; segments on
`$file-async/{file_id}/{offset}/{sha256 of the segment}`; `$file-async/{file_id}/fin/{size}/{sha256}`.
The receiver (EMQX's file transfer, or `edge-hub receive` on mosquitto) answers each command on
`$file-response/{client id}`: reason 0 is done, 0x80 means send that segment again (or, for fin,
the whole file), 0x97 means wait.  So a node works unchanged against an EMQX cluster.

What the receiver has confirmed is kept in SQLite (edge/link/upload_store.py), so after a
disconnect, a broker restart or a power cut only what is still unconfirmed is sent again.  Files go
one at a time, highest priority first (manifests and snapshots of alerts, then clips, then dock
footage).  How much is in flight, and how large a segment is, follows the link the uploader measures
(edge/link/pace.py), so that alerts on the same connection never wait long behind evidence; an
operator's cap limits it further.  A bundle counts as uploaded only when the hub says it verified
the whole bundle (the signed `evidence_ack` command); only then may retention delete it.  A queued
file that vanished from the disk leaves the queue, and its bundle says which file is missing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time

import apsw

from ..contract.transfer import RC_CANCEL, RC_QUOTA, RC_REFUSED, RC_RESEND, RC_SUCCESS
from .pace import LinkPace, RateLimiter
from .upload_store import PRIORITY, UploadFile, UploadStore, file_id_for

__all__ = ["PRIORITY", "RateLimiter", "UploadFile", "UploadStore", "Uploader", "file_id_for"]

log = logging.getLogger("edge.link.upload")

INIT, FIN = -1, -2  # not offsets: the commands among a file's answers awaited


def gaps(size: int, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The (start, end) ranges of [0, size) that no confirmed span covers."""
    out, reach = [], 0
    for offset, length in sorted(spans):
        if offset > reach:
            out.append((reach, min(offset, size)))
        reach = max(reach, offset + length)
    if reach < size:
        out.append((reach, size))
    return [(a, b) for a, b in out if b > a]


class Uploader:
    """Sends queued files, one at a time, through the node's MQTT link."""

    def __init__(self, mqtt, store: UploadStore, *, node: str, segment_bytes: int = 256 * 1024, window: int = 32,
                 rate_bytes_s: float = 0, response_timeout_s: float = 30.0, queue_delay_s: float = 0.25):
        """`segment_bytes` and `window` (segments) are upper bounds; within them the link's measured rate
        and round trip decide (edge/link/pace.py).  `rate_bytes_s` caps the rate (0: none)."""
        self.mqtt = mqtt
        self.store = store
        self.node = node
        self.client_id = mqtt.settings.client_id
        self.segment_bytes = segment_bytes
        self.window = window
        self.pace = LinkPace(queue_delay_s=queue_delay_s, max_segment=segment_bytes, max_segments=window,
                             cap_bytes_s=rate_bytes_s)
        self.limiter = RateLimiter(rate_bytes_s, burst=max(rate_bytes_s, segment_bytes))
        self.response_timeout_s = response_timeout_s
        self.response_topic = f"$file-response/{self.client_id}"
        self._responses: queue.Queue[dict] = queue.Queue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._problem: str | None = None  # what keeps the thread from working now, if anything
        self._fins: dict[str, tuple[UploadFile, float]] = {}  # fin topic -> (file, sent at): answers to come
        self._fins_connects = 0
        # Segments of files whose fin went out before their answers came (topic -> file id, offset,
        # length): at a fast link that is the last window of every file, ~10 % of a 20 MB clip at 50 Mbit/s.
        self._trailing: dict[str, tuple[str, int, int]] = {}
        self.bytes_sent = 0  # segment payload bytes handed to the broker, resends included
        self.bytes_confirmed = 0  # segment bytes the receiver confirmed
        self.files_done = 0
        self.files_missing = 0
        self.publishes = 0  # every command and segment published (init, segments, fin)

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

    def stats(self) -> dict:
        """For the node's stats message: the link as measured, what waits, and for how long."""
        body = self.pace.snapshot()
        try:
            counts = self.store.counts()
        except apsw.Error:  # a failing disk: the link figures still say something
            return body
        body.update({"upload_bytes_queued": counts["bytes_pending"], "upload_files_queued": counts["files_pending"],
                     "upload_oldest_wait_s": counts["oldest_wait_s"], "upload_files_missing": counts["files_missing"]})
        return body

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
                if self._fins:  # answers to come for files already sent whole
                    self._drain(0.5)
                    self._fins_overdue()
                else:
                    self._wake.wait(1.0)
                    self._wake.clear()
                continue
            try:
                outcome = self._send_file(job)
            except OSError as exc:  # the file vanished or cannot be read: out of the queue, said once
                bundle, reason = self.store.file_missing(job.file_id, exc.strerror or type(exc).__name__)
                log.warning("upload: %s: %s; bundle %s: %s", job.path, exc.strerror or exc, bundle, reason)
                outcome = "missing"
            if outcome == "missing":
                self.files_missing += 1
            elif outcome == "finishing":  # fin sent behind the last segment: its answer comes later
                backoff = 1.0
            elif outcome == "stored":
                backoff = 1.0
                self._stored(job)
            elif outcome == "retry":
                self.pace.forget()
                log.warning("upload: %s: retrying in %.0f s", job.file_id, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 60.0)

    def _stored(self, job: UploadFile) -> None:
        self.files_done += 1
        bundle = self.store.file_stored(job.file_id)
        log.info("upload: %s stored by the hub (%d bytes)", job.name, job.size)
        if bundle is not None:
            log.info("upload: bundle %s sent whole; waiting for the hub to verify it", bundle)

    def _fin_answered(self, response: dict) -> None:
        """The answer to a file's fin, sent without waiting for it (the next file went meanwhile)."""
        job, _ = self._fins.pop(response["topic"])
        self._forget_trailing(job.file_id)
        outcome = self._fin_outcome(job, response)
        if outcome == "stored":
            self._stored(job)
        elif outcome == "retry":
            self.store.file_pending(job.file_id)  # the whole file again (its segments were forgotten)
            self._wake.set()

    def _forget_trailing(self, file_id: str) -> None:
        """Its fin was answered (after every segment's answer) or is overdue: no answer to wait for."""
        self._trailing = {t: e for t, e in self._trailing.items() if e[0] != file_id}

    def _fins_overdue(self) -> None:
        """A fin unanswered for `response_timeout_s` of connected time: the file goes again from init
        (the receiver answers what it already has)."""
        now = time.monotonic()
        if self.mqtt.connects != self._fins_connects:  # back after a disconnect: a fresh wait
            self._fins_connects = self.mqtt.connects
            self._fins = {t: (job, now) for t, (job, _) in self._fins.items()}
        for topic, (job, since) in list(self._fins.items()):
            if now - since > self.response_timeout_s:
                del self._fins[topic]
                self._forget_trailing(job.file_id)
                log.warning("upload: %s: no answer to fin for %.0f s; sending it again", job.name,
                            self.response_timeout_s)
                self.store.file_pending(job.file_id)
                self.pace.forget()

    def _publish(self, topic: str, payload: bytes) -> bool:
        self.publishes += 1
        return self.mqtt.publish_now(topic, payload, qos=1)

    def _send_file(self, job: UploadFile) -> str:
        """stored | retry (stopped, timed out, refused for now) | refused; OSError if the file is gone.

        The receiver takes a client's commands in order, so segments follow init without waiting
        for its answer, and a file of one segment sends fin straight after it: such a file costs
        one round trip, not three.  A larger file waits for every segment's answer before fin, so
        that a damaged segment is sent again alone rather than the whole file.

        A disconnect does not restart the file: paho re-sends what the broker had not acknowledged,
        the broker delivers what it had, and the answers come when the link is back.  A command
        still unanswered a while after that starts the file again from init.
        """
        with open(job.path, "rb") as f:  # first: a vanished file costs no publish
            return self._send_open_file(job, f)

    def _send_open_file(self, job: UploadFile, f) -> str:
        base = f"$file-async/{job.file_id}"
        init = {"name": job.name, "size": job.size, "checksum": job.sha256,
                "expire_at": int(time.time()) + 7 * 86400, "segments_ttl": 7 * 86400,
                "user_data": {"node": self.node, "client_id": self.client_id, "bundle": job.bundle,
                              "sequence": job.seq}}
        init_topic, fin_topic = f"{base}/init", f"{base}/fin/{job.size}/{job.sha256}"
        pace = self.pace
        if not self._wait_connected() or not self._publish(init_topic, json.dumps(init).encode()):
            return "retry"
        pace.sent(init_topic, 0)
        todo = gaps(job.size, self.store.stored_spans(job.file_id))  # (start, end) still to send
        waiting: dict[str, tuple[int, int]] = {init_topic: (INIT, 0)}  # topic -> (offset | INIT | FIN, length)
        # Time spent waiting for answers since the last one came (not time spent within the bandwidth
        # cap, which can be long on a slow uplink).
        silent_s = 0.0
        confirmed: list[tuple[int, int]] = []  # written to the database in batches, not one commit per segment
        last_flush = time.monotonic()
        connects = self.mqtt.connects
        fin_sent = False

        def keep() -> None:
            self.store.segments_stored(job.file_id, confirmed)
            confirmed.clear()

        while todo or waiting:
            if confirmed and time.monotonic() - last_flush > 0.5:
                keep()
                last_flush = time.monotonic()
            if self._stop.is_set():
                keep()
                return "retry"
            if not self.mqtt.connected.is_set():
                self._stop.wait(0.2)
                continue
            if self.mqtt.connects != connects:  # back after a disconnect: a fresh wait for answers
                connects = self.mqtt.connects
                silent_s = 0.0
            while todo:
                start, end = todo[0]
                length = min(end - start, pace.segment_bytes())
                if not pace.may_send(length):
                    break
                f.seek(start)
                data = f.read(length)
                if len(data) != length:
                    raise OSError(f"{job.name} is shorter on disk than when it was sealed")
                topic = f"{base}/{start}/{hashlib.sha256(data).hexdigest()}"
                if not self.limiter.wait(len(data), self._stop) or not self._publish(topic, data):
                    break
                todo[0] = (start + length, end)
                if start + length >= end:
                    todo.pop(0)
                pace.sent(topic, len(data))
                self.bytes_sent += len(data)
                waiting[topic] = (start, length)
            if not todo and not fin_sent and self._publish(fin_topic, b""):
                # fin straight behind the last segment (the receiver takes our commands in order), and
                # the next file goes while its answer comes: no idle link between files.  A segment
                # damaged on the way then costs the whole file (fin fails), which TCP makes rare.
                keep()
                pace.sent(fin_topic, 0)
                self._trailing.update({t: (job.file_id, *entry) for t, entry in waiting.items() if entry[0] >= 0})
                self._fins[fin_topic] = (job, time.monotonic())
                self._fins_connects = self.mqtt.connects
                self.store.file_finishing(job.file_id)
                return "finishing"
            waited_from = time.monotonic()
            answered = False
            for response in self._drain(0.5):
                entry = waiting.pop(response["topic"], None)
                if entry is None:
                    continue
                answered = True
                offset, length = entry
                code = response.get("reason_code", RC_RESEND)
                if code == RC_REFUSED:  # for good (a verified bundle at the hub is immutable)
                    return self._refused(job, response)
                if offset == INIT:
                    if code != RC_SUCCESS:
                        keep()
                        return "retry"
                elif offset == FIN:
                    return self._fin_outcome(job, response)
                elif code == RC_SUCCESS:
                    confirmed.append((offset, length))
                    self.bytes_confirmed += length
                elif code == RC_CANCEL:
                    keep()
                    return "retry"
                else:  # corrupted on the way (0x80), or the receiver is full for now (0x97)
                    todo.insert(0, (offset, offset + length))
                    if code == RC_QUOTA:
                        self._stop.wait(5.0)
            silent_s = 0.0 if answered else silent_s + time.monotonic() - waited_from
            if waiting and silent_s > self.response_timeout_s:
                # Answers stopped (not merely slow: a slow uplink still answers now and then).
                # The receiver may have lost the transfer (a hub restored without its work
                # folder): start again with init, which it answers in any case; what it
                # confirmed is not sent again.
                keep()
                log.warning("upload: %s: no answer for %.0f s; starting the file again", job.name,
                            self.response_timeout_s)
                return "retry"
        keep()
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
        """The answers that came (waiting up to `timeout` for the first); answers to fins sent earlier
        are dealt with here and not returned."""
        out = []
        try:
            out.append(self._responses.get(timeout=timeout))
            while True:
                out.append(self._responses.get_nowait())
        except queue.Empty:
            pass
        late = []  # segments of files already finishing: kept before any fin's answer (which comes after them)
        for response in out:
            self.pace.answered(response["topic"])
            trailing = self._trailing.pop(response["topic"], None)
            if trailing is not None and response.get("reason_code") == RC_SUCCESS:  # else fin's answer tells
                late.append(trailing)
                self.bytes_confirmed += trailing[2]
        for file_id in {t[0] for t in late}:  # a node restarted before fin's answer does not send them again
            self.store.segments_stored(file_id, [(o, n) for f, o, n in late if f == file_id])
        rest = []
        for response in out:
            if response["topic"] in self._fins:
                self._fin_answered(response)
            else:
                rest.append(response)
        if self._fins:
            self._fins_overdue()
        return rest
