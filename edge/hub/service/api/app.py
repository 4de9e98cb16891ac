"""The FastAPI application: routers, one-line validation errors, health."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from .... import __version__ as _version
from . import evidence, incidents, models, nodes, officers, session, stats, stream
from .deps import Hub


def _field(loc) -> str:
    return ".".join(str(p) for p in loc) or "(request)"


def build_app(hub: Hub) -> FastAPI:
    # No /docs or /redoc: FastAPI's pages load their scripts from a CDN, and nothing here may download.
    app = FastAPI(title="edge-hub", version=str(_version), docs_url=None, redoc_url=None,
                  description="The township command platform's API: incidents, evidence, nodes, officers, "
                              "commands, statistics and a live event stream. Sign in with POST /api/login; "
                              "send the edge_csrf cookie's value as X-CSRF-Token on every POST.")
    app.state.hub = hub
    for module in (session, incidents, evidence, nodes, officers, stats, stream, models):
        app.include_router(module.router)
    if hub.config.console.enabled:
        from ...console import mount

        mount(app)  # the web console under /console/ (edge/hub/console)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        return JSONResponse(status_code=422, content={
            "detail": f"{_field(first['loc'])}: {first['msg']}",
            "errors": [{"field": _field(e["loc"]), "message": e["msg"]} for e in errors]})

    @app.get("/api/health", tags=["health"])
    def health() -> dict:
        return {"ok": True, "version": str(_version), "store": hub.db.kind, **(hub.counters() if hub.counters else {})}

    return app
