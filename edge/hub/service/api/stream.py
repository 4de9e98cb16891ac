"""GET /api/events: server-sent events of every change (incidents, nodes, officers, tasks, commands).

Each event's `id` is its row in the change feed; a browser's EventSource sends it back as
Last-Event-ID when it reconnects, and the stream goes on from there."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from .. import events
from .deps import Hub, User, hub, viewer

router = APIRouter(prefix="/api", tags=["events"])

POLL_S = 0.02
KEEPALIVE_S = 15.0


@router.get("/events")
async def stream(request: Request, h: Hub = Depends(hub), u: User = Depends(viewer)) -> StreamingResponse:
    last = request.headers.get("last-event-id")
    start = int(last) if last and last.isdigit() else await asyncio.to_thread(events.last_seq, h.db)

    async def feed():
        seq, idle = start, 0.0
        yield "retry: 2000\n\n"
        while not await request.is_disconnected():
            rows = await asyncio.to_thread(events.since, h.db, seq)
            for s, kind, data in rows:
                seq = s
                yield f"id: {s}\nevent: {kind}\ndata: {data}\n\n"
            if rows:
                idle = 0.0
                continue
            await asyncio.sleep(POLL_S)
            idle += POLL_S
            if idle >= KEEPALIVE_S:
                idle = 0.0
                yield ": keep-alive\n\n"

    return StreamingResponse(feed(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
