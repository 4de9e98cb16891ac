"""What every console page shares: the Jinja2 environment, the signed-in user (or a redirect to the
login page), the language, and rendering with the header's figures."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..service import auth
from ..service.api.deps import SESSION_COOKIE, Hub, User
from . import i18n

HERE = Path(__file__).parent
env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                  trim_blocks=True, lstrip_blocks=True)


def clock(t: float | None, fmt: str = "%m-%d %H:%M:%S") -> str:
    return datetime.fromtimestamp(t).strftime(fmt) if t else "—"


def ago(t: float | None) -> str:
    if not t:
        return "—"
    s = max(0, int(time.time() - t))
    return f"{s} s" if s < 120 else f"{s // 60} min" if s < 7200 else f"{s // 3600} h"


env.filters["clock"] = clock
env.filters["ago"] = ago


class Redirect(Exception):
    """Raised by `signed_in` for a visitor without a session: the handler answers with the login page."""


def hub_of(request: Request) -> Hub:
    return request.app.state.hub


def signed_in(request: Request) -> User:
    token = request.cookies.get(SESSION_COOKIE)
    found = auth.session(hub_of(request).db, token) if token else None
    if found is None:
        raise Redirect()
    return User(*found)


def can(u: User, minimum: str) -> bool:
    return auth.RANK[u.role] >= auth.RANK[minimum]


def lang_of(request: Request) -> str:
    return i18n.pick(request.query_params.get("lang"), request.cookies.get(i18n.COOKIE))


def unhandled(h: Hub) -> int:
    return int(h.db.query("SELECT count(*) FROM incidents WHERE state = 'new'")[0][0])


def render(request: Request, template: str, u: User | None, **context) -> HTMLResponse:
    lang = lang_of(request)
    h = hub_of(request)
    values = dict(request=request, user=u, lang=lang, w=i18n.words(lang), path=request.url.path,
                  is_dispatcher=bool(u and can(u, "dispatcher")), is_admin=bool(u and can(u, "admin")),
                  unhandled=unhandled(h) if u else 0, sound=h.config.console.sound)
    page = env.get_template(template).render({**values, **context})
    response = HTMLResponse(page)
    if request.query_params.get("lang") in i18n.LANGS:
        response.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, samesite="strict", path="/")
    return response


def fragment(request: Request, template: str, **context) -> HTMLResponse:
    lang = lang_of(request)
    return HTMLResponse(env.get_template(template).render(request=request, lang=lang, w=i18n.words(lang),
                                                          **context))


def to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/console/login?next={request.url.path}", status_code=303)
