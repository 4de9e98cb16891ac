"""The loudspeaker: a queue where the hub's voice comes before automatic warnings.

Automatic warnings (from the tiered response) wait their turn, are skipped in quiet hours, and are
interrupted when a hub command arrives.  Every play counts against a hard per-minute limit, and the
queue is bounded: what does not fit is refused at once, never piled up.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..rules.schedule import Schedule
from .audio import Pcm, prepare, read_wav
from .library import ClipLibrary, SpeakError, Tts
from .sinks import SinkError

log = logging.getLogger("edge.speaker")

HUB, AUTOMATIC = 0, 1
Done = Callable[[bool, str | None], None]


@dataclass(order=True)
class Request:
    priority: int
    seq: int
    pcm: Pcm = field(compare=False)
    label: str = field(compare=False)
    done: Done = field(compare=False)


class Speaker:
    def __init__(self, sink, library: ClipLibrary, tts: Tts, *, volume: float = 0.8, repeat: int = 2,
                 quiet_hours: Schedule | None = None, max_per_minute: int = 10, queue_size: int = 16):
        self.sink = sink
        self.library = library
        self.tts = tts
        self.volume = volume
        self.repeat = repeat
        self.quiet_hours = quiet_hours
        self.max_per_minute = max_per_minute
        self.queue_size = queue_size
        self._heap: list[Request] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._playing: Request | None = None
        self._interrupt = threading.Event()
        self._stop = False
        self._started: deque[float] = deque()
        self.failed: str | None = None
        self.plays = 0
        self._thread = threading.Thread(target=self._run, name="speaker", daemon=True)
        self._thread.start()

    @property
    def state(self) -> str:
        """ok, missing (no device or player) or failed (the last play failed)."""
        return "failed" if self.failed else self.sink.state

    # --- requests -----------------------------------------------------------------------------
    def warn(self, kind: str, clip_id: str | None, wall: float, label: str = "warning") -> str | None:
        """An automatic warning; returns why it was not queued, or None."""
        if self.quiet_hours is not None and self.quiet_hours.armed(wall):
            return "quiet hours"
        clip = self.library.get(clip_id) if clip_id else self.library.for_kind(kind)
        if clip is None:
            return f"no clip for {kind}"
        pcm = prepare(read_wav(clip.path), self.volume, self.repeat)
        try:
            self._put(Request(AUTOMATIC, next(self._seq), pcm, f"auto-{clip.id}", lambda ok, err: None))
        except SpeakError as exc:
            return str(exc)
        return None

    def speak(self, *, clip: str | None = None, text: str | None = None, volume: float | None = None,
              repeat: int | None = None, done: Done) -> None:
        """A hub command: queued ahead of automatic warnings; `done` is called when it has played."""
        if (clip is None) == (text is None):
            raise SpeakError("give a clip or a text, not both")
        volume = self.volume if volume is None else volume
        repeat = self.repeat if repeat is None else repeat
        if not (isinstance(volume, int | float) and 0.0 <= volume <= 1.0):
            raise SpeakError("volume must be between 0 and 1")
        if not (isinstance(repeat, int) and 1 <= repeat <= 5):
            raise SpeakError("repeat must be 1 to 5")
        path = self.library.get(clip).path if clip is not None else self.tts.render(text)
        label = f"hub-{clip}" if clip is not None else "hub-text"
        self._put(Request(HUB, next(self._seq), prepare(read_wav(path), float(volume), repeat), label, done))

    def _put(self, request: Request) -> None:
        with self._cond:
            if len(self._heap) >= self.queue_size:
                raise SpeakError(f"speaker busy: {len(self._heap)} plays waiting")
            heapq.heappush(self._heap, request)
            playing = self._playing
            if playing is not None and request.priority < playing.priority:
                self._interrupt.set()  # the hub's voice comes first
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._interrupt.set()
            self._cond.notify()
        self._thread.join(10)

    # --- the player thread ----------------------------------------------------------------------
    def _over_limit(self) -> bool:
        now = time.monotonic()
        while self._started and now - self._started[0] > 60:
            self._started.popleft()
        return len(self._started) >= self.max_per_minute

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap and not self._stop:
                    self._cond.wait()
                if self._stop:
                    for request in self._heap:
                        request.done(False, "the node is stopping")
                    return
                request = heapq.heappop(self._heap)
                if self._over_limit():
                    request.done(False, f"rate limit: at most {self.max_per_minute} plays a minute")
                    continue
                self._playing = request
                self._interrupt.clear()
                self._started.append(time.monotonic())
            try:
                finished = self.sink.play(request.pcm, self._interrupt, request.label)
                self.failed = None
                self.plays += 1
                if finished:
                    request.done(True, None)
                else:
                    request.done(False, "interrupted by a hub command" if request.priority == AUTOMATIC
                                 else "interrupted")
            except (SinkError, OSError) as exc:
                self.failed = str(exc)
                log.error("speaker: %s", exc)
                request.done(False, f"playback failed: {exc}")
            finally:
                with self._cond:
                    self._playing = None
