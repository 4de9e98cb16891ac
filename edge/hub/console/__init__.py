"""The command-centre web console: server-rendered pages (Jinja2) with htmx and Leaflet vendored
under static/vendor, served by `edge-hub serve` on the API's own port under /console/.

The pages read the store directly for what they show and act only through the JSON API (with the
session's CSRF token), so the console can do nothing an API client could not."""

from __future__ import annotations


def mount(app) -> None:
    """Add the console's routes and static files to the hub's FastAPI app (api/app.py calls this).
    Imports here: hub.toml's config imports this package's config module, and must not pull FastAPI."""
    from fastapi import Request
    from fastapi.responses import RedirectResponse
    from fastapi.staticfiles import StaticFiles

    from ..service.api import users, zones
    from . import admin, export, incident, mapview, nodes, queue, stats
    from .web import HERE, Redirect, to_login

    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
    for module in (zones, users, queue, incident, export, mapview, nodes, stats, admin):
        app.include_router(module.router)

    @app.exception_handler(Redirect)
    async def login_first(request: Request, exc: Redirect):
        return to_login(request)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=303)
