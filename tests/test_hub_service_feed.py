"""The change feed behind the SSE stream, on SQLite and a real PostgreSQL: one reader per process
fans every change out to every client, in order and once each, a client starting from an earlier
event catches up from the store, and on PostgreSQL event numbers follow commit order so that no
reader going by `seq` skips a change committed late by another worker."""

from __future__ import annotations

import asyncio
import json
import threading

from edge.hub.service import events
from edge.hub.service.db import Database
from edge.hub.service.feed import Feed

from .hub_rig import store_url  # noqa: F401


def _store(url: str) -> Database:
    db = Database(url)
    db.migrate()
    return db


def _emit(db: Database, n: int) -> None:
    with db.tx() as t:
        events.emit(t, "test", {"n": n})


def run_in_own_loop(coro):
    """asyncio.run on a thread of its own: the browser tests' Playwright (sync API) keeps an event loop
    running on the main thread for the whole session, and asyncio.run refuses to nest in it."""
    out: dict = {}

    def target() -> None:
        try:
            out["result"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised on the test's thread
            out["error"] = exc

    thread = threading.Thread(target=target, name="feed-test-loop")
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["result"]


async def _collect(feed: Feed, start: int, count: int) -> list[int]:
    got: list[int] = []

    async def never_gone() -> bool:
        return False

    async for rows in feed.stream(start, never_gone, keepalive_s=60):
        got += [json.loads(data)["n"] for _, _, data in rows]
        if len(got) >= count:
            return got
    return got


def test_every_client_gets_every_change_once_in_order_and_a_late_one_catches_up(store_url):  # noqa: F811
    db = _store(store_url)
    _emit(db, 0)  # before anyone listens

    async def run() -> tuple[list[int], list[int], list[int]]:
        feed = Feed.of(db)
        assert Feed.of(db) is feed  # one per store and process
        start = events.last_seq(db)
        a = asyncio.create_task(_collect(feed, start, 20))
        b = asyncio.create_task(_collect(feed, start, 20))
        await asyncio.sleep(0.2)
        writer = threading.Thread(target=lambda: [_emit(db, n) for n in range(1, 21)])
        writer.start()
        await asyncio.to_thread(writer.join)
        late = asyncio.create_task(_collect(feed, 0, 21))  # Last-Event-ID 0: everything from the store
        return await asyncio.wait_for(asyncio.gather(a, b, late), 30)

    a, b, late = run_in_own_loop(run())
    assert a == b == list(range(1, 21))
    assert late == list(range(0, 21))
    db.close()


def test_event_numbers_follow_commit_order_on_postgres(postgres):
    """A transaction that emitted first and commits last must not be skipped by a reader that has
    already read a later transaction's event."""
    db = _store(postgres.create_db("feed_order"))
    committed = threading.Event()
    seen: list[int] = []
    with db.tx() as t:
        events.emit(t, "test", {"n": 1})  # holds number 1, not committed yet

        def second():
            _emit(db, 2)
            committed.set()

        other = threading.Thread(target=second)
        other.start()
        committed.wait(1.0)  # without the feed lock it commits at once
        rows = events.since(db, 0)
        seen += [s for s, _, _ in rows]
        last = max(seen, default=0)
    other.join(10)
    seen += [s for s, _, _ in events.since(db, last)]
    assert len(seen) == 2 and seen == sorted(seen)
    db.close()
