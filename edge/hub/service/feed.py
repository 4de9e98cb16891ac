"""The change feed read once per process and fanned out to every SSE client.

Each client used to poll the store every 20 ms, a query per client per tick, and saw a change up to
a tick after its commit.  Now one reader per process polls (only while someone listens), woken at
once when a transaction of this process that emitted an event commits (`Database.on_commit`); the
poll is for what the other workers commit.  A client catches up from the store by itself (from its
Last-Event-ID) and then takes the reader's batches; one that falls behind by more than `QUEUE`
batches goes back to the store for what it missed, so a slow browser never holds rows in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable

from . import events
from .db import Database

POLL_S = 0.05  # changes committed by other workers are seen within this
QUEUE = 256  # batches a client may lag behind before it reads the store itself again
BATCH = 500

Row = tuple[int, str, str]

_feeds: weakref.WeakKeyDictionary[Database, Feed] = weakref.WeakKeyDictionary()


CLOSED: list[Row] = []  # put in a client's queue when the feed closes (compared by identity)


class _Client:
    def __init__(self):
        self.queue: asyncio.Queue[list[Row]] = asyncio.Queue(QUEUE)
        self.behind = False
        self.closing = False


class Feed:
    def __init__(self, db: Database, poll_s: float = POLL_S):
        self.db = db
        self.poll_s = poll_s
        self._clients: set[_Client] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self.closed = False
        db.on_commit.append(self.poke)

    @classmethod
    def of(cls, db: Database) -> Feed:
        """The one feed of this store in this process."""
        feed = _feeds.get(db)
        if feed is None:
            feed = _feeds[db] = cls(db)
        return feed

    def poke(self) -> None:
        """Something was committed (any thread): read the store now."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(wake.set)

    def close(self) -> None:
        """The service is stopping (any thread): every stream ends now, so the server's graceful
        shutdown finds no response still open and cancels none (a browser's EventSource reconnects
        to the next process from its Last-Event-ID)."""
        self.closed = True
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def end_all():
            for client in list(self._clients):
                with contextlib.suppress(asyncio.QueueFull):
                    client.queue.put_nowait(CLOSED)
                client.closing = True
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(end_all)

    async def stream(self, start: int, gone: Callable[[], Awaitable[bool]],
                     keepalive_s: float = 15.0) -> AsyncIterator[list[Row]]:
        """Batches of rows after `start`, in order, each once; an empty batch after `keepalive_s`
        without changes.  Ends when `gone()` says the client has left, or when the feed closes."""
        client = _Client()
        self._clients.add(client)
        seq, catch_up, quiet = start, True, 0.0
        try:
            while not self.closed and not client.closing:
                self._ensure_reader()
                if catch_up or client.behind:  # from the store: at the start, and after falling behind
                    catch_up = client.behind = False
                    while not client.queue.empty():
                        client.queue.get_nowait()
                    while True:
                        rows = await asyncio.to_thread(events.since, self.db, seq, BATCH)
                        if rows:
                            seq, quiet = rows[-1][0], 0.0
                            yield rows
                        if len(rows) < BATCH:
                            break
                try:
                    rows = await asyncio.wait_for(client.queue.get(), 1.0)
                    if rows is CLOSED:
                        return
                except TimeoutError:
                    if await gone():
                        return
                    quiet += 1.0
                    if quiet >= keepalive_s:
                        quiet = 0.0
                        yield []
                    continue
                fresh = [r for r in rows if r[0] > seq]
                if fresh:
                    seq, quiet = fresh[-1][0], 0.0
                    yield fresh
        finally:
            self._clients.discard(client)

    def _ensure_reader(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._loop is loop:
            return
        self._loop, self._wake = loop, asyncio.Event()
        self._task = loop.create_task(self._read())

    async def _read(self) -> None:
        seq = await asyncio.to_thread(events.last_seq, self.db)
        wake = self._wake
        while self._clients:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self.poll_s)
            wake.clear()
            while True:
                try:
                    rows = await asyncio.to_thread(events.since, self.db, seq, BATCH)
                except Exception:  # the store is away: the next turn tries again
                    await asyncio.sleep(self.poll_s)
                    break
                if not rows:
                    break
                seq = rows[-1][0]
                for client in list(self._clients):
                    try:
                        client.queue.put_nowait(rows)
                    except asyncio.QueueFull:
                        client.behind = True  # it will read the store itself
                if len(rows) < BATCH:
                    break
