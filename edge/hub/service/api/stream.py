"""GET /api/events: server-sent events of every change (incidents, nodes, officers, tasks, commands).

Each event's `id` is its row in the change feed; a browser's EventSource sends it back as
Last-Event-ID when it reconnects, and the stream goes on from there.  One reader per process feeds
every client (edge.hub.service.feed)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from .. import events
from ..feed import Feed
from .deps import Hub, User, hub, viewer

router = APIRouter(prefix="/api", tags=["events"])

KEEPALIVE_S = 15.0


@router.get("/events")
async def stream(request: Request, h: Hub = Depends(hub), u: User = Depends(viewer)) -> StreamingResponse:
    last = request.headers.get("last-event-id")
    start = int(last) if last and last.isdigit() else await asyncio.to_thread(events.last_seq, h.db)

    async def feed():
        yield "retry: 2000\n\n"
        async for rows in Feed.of(h.db).stream(start, request.is_disconnected, KEEPALIVE_S):
            if not rows:
                yield ": keep-alive\n\n"
            for s, kind, data in rows:
                yield f"id: {s}\nevent: {kind}\ndata: {data}\n\n"

    return StreamingResponse(feed(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
