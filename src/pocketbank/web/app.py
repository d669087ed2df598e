"""``install_web(app)``: mount the web app (pages, static files, service worker) on the API's FastAPI app.

The pages call the services in ``request.app.state.container`` directly. Errors on web paths are answered with HTML
pages; the JSON API keeps its own problem+json handlers for ``/v1``, ``/docs`` and ``/openapi.json``.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any, Final

import structlog
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import FormData, URLPath
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ExceptionHandler, Receive, Scope, Send

from pocketbank.errors import PocketBankError
from pocketbank.web import routes_auth, routes_money, routes_staff
from pocketbank.web.i18n import LOCALES
from pocketbank.web.page_limit import POSTGRES_PAGES_AT_ONCE, SQLITE_PAGES_AT_ONCE, PageLimitMiddleware
from pocketbank.web.render import redirect, render
from pocketbank.web.security import SecurityHeadersMiddleware
from pocketbank.web.session import LANG_COOKIE, YEAR, CsrfFailed, LoginRequired, form, text, web
from pocketbank.web.timing import ServerTimingMiddleware

log = structlog.get_logger("pocketbank.web")
STATIC: Final = Path(__file__).parent / "static"
API_PREFIXES: Final = ("/v1", "/docs", "/openapi.json", "/redoc")

# HTTP status of the error page by error code (anything else: 400).
STATUS: Final[dict[str, int]] = {
    "not_found": 404, "unauthenticated": 401, "session_expired": 401, "invalid_credentials": 401,
    "forbidden": 403, "step_up_failed": 403, "step_up_required": 403, "account_locked": 423, "rate_limited": 429,
    "conflict": 409, "insufficient_funds": 402, "limit_exceeded": 402, "transfer_not_cancellable": 409,
    "transfer_not_reversible": 409, "account_closed": 409,
}  # fmt: skip

router = APIRouter(include_in_schema=False)
Form = Annotated[FormData, Depends(form)]


def is_web(request: Request) -> bool:
    return not request.url.path.startswith(API_PREFIXES)


def safe_next(value: str) -> str:
    """Only a local path (no scheme, no ``//host``) is followed after a language switch."""
    return value if value.startswith("/") and not value.startswith("//") and "\\" not in value else "/"


@router.get("/")
def welcome(request: Request) -> Response:
    w = web(request)
    try:
        w.customer()
    except LoginRequired:
        return render(request, "welcome.html")
    return redirect(request, "/home")


@router.post("/lang")
def set_language(request: Request, data: Form) -> Response:
    lang = text(data, "lang")
    w = web(request)
    if lang in LOCALES:
        w.set_cookie(LANG_COOKIE, lang, YEAR)
    return redirect(request, safe_next(text(data, "next")))


@router.get("/offline")
def offline(request: Request) -> Response:
    return render(request, "offline.html")


@router.get("/sw.js")
def service_worker() -> Response:
    return FileResponse(
        STATIC / "sw.js",
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )


@router.get("/manifest.webmanifest")
def manifest() -> Response:
    return FileResponse(STATIC / "manifest.webmanifest", media_type="application/manifest+json")


class PagesFirst(BaseRoute):
    """The pages' routes, tried first for a path outside the JSON API (and not at all for a path inside it).

    The API's routes come first in the app, and matching a page's path against each of them cost ~0.1 ms of CPU a
    page view (a tenth of a typical one). Here an API path costs one prefix test; a path that no page has (a 404)
    goes on to the API's routes as before.
    """

    def __init__(self, routes: BaseRoute, skip: tuple[str, ...]) -> None:
        self.routes, self.skip = routes, skip

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(self.skip):
            return Match.NONE, {}
        return self.routes.matches(scope)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.routes.handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        return self.routes.url_path_for(name, **path_params)


def _error_page(request: Request, code: str, status: int) -> Response:
    return render(request, "error.html", {"code": code}, status=status)


def install_web(app: FastAPI) -> None:
    """Add the web app to ``app``: header middlewares, pages, ``/static``, and HTML error pages for web paths."""
    configured = app.state.container.settings.web_secret if app.state.container is not None else None
    # Without a configured secret each process signs with its own: fine for one worker, not for several.
    app.state.web_secret = configured.get_secret_value().encode() if configured else secrets.token_bytes(32)
    app.add_middleware(SecurityHeadersMiddleware)
    sqlite = app.state.container is None or app.state.container.settings.database_url.startswith("sqlite")
    at_once = SQLITE_PAGES_AT_ONCE if sqlite else POSTGRES_PAGES_AT_ONCE
    app.add_middleware(PageLimitMiddleware, at_once=at_once, skip=(*API_PREFIXES, "/static"))
    app.add_middleware(ServerTimingMiddleware, skip=API_PREFIXES)  # added last: outermost, so it times the rest
    pages = APIRouter(include_in_schema=False)
    for part in (router, routes_auth.router, routes_money.router, routes_staff.router):
        pages.include_router(part)
    before = len(app.router.routes)
    app.include_router(pages)
    added = app.router.routes[before:]  # one included router (or, with a FastAPI that copies routes, each route)
    del app.router.routes[before:]
    app.router.routes[0:0] = [PagesFirst(route, skip=API_PREFIXES) for route in added]
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    previous_http = app.exception_handlers.get(StarletteHTTPException)
    previous_domain = app.exception_handlers.get(PocketBankError)
    previous_any = app.exception_handlers.get(Exception)

    async def delegate(previous: ExceptionHandler | None, request: Request, exc: Exception) -> Response:
        if previous is None:
            raise exc
        response = await previous(request, exc)  # type: ignore[misc,arg-type]
        assert isinstance(response, Response)
        return response

    async def on_http(request: Request, exc: Exception) -> Response:
        if not is_web(request) or not isinstance(exc, StarletteHTTPException):
            return await delegate(previous_http, request, exc)
        if exc.status_code == 404:
            return render(request, "404.html", status=404)
        return _error_page(request, "invalid_parameter", exc.status_code)

    async def on_domain(request: Request, exc: Exception) -> Response:
        if not is_web(request) or not isinstance(exc, PocketBankError):
            return await delegate(previous_domain, request, exc)
        return _error_page(request, exc.code, STATUS.get(exc.code, 400))

    async def on_any(request: Request, exc: Exception) -> Response:
        if not is_web(request):
            return await delegate(previous_any, request, exc)
        log.exception("unhandled error in the web app", path=request.url.path)
        return _error_page(request, "internal_error", 500)

    async def on_login(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        target = "/staff/login" if exc.staff else "/login"
        if request.headers.get("hx-request"):
            w = web(request)
            return w.apply(Response(status_code=204, headers={"HX-Redirect": target}))
        return redirect(request, target + ("?reason=idle" if exc.reason == "idle" else ""))

    async def on_csrf(request: Request, exc: Exception) -> Response:
        return _error_page(request, "csrf", 403)

    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(PocketBankError, on_domain)
    app.add_exception_handler(Exception, on_any)
    app.add_exception_handler(LoginRequired, on_login)
    app.add_exception_handler(CsrfFailed, on_csrf)
