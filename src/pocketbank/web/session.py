"""Cookie sessions and CSRF for the web app.

* ``__Host-pb_session`` (customers) and ``__Host-pb_staff`` (the staff console) hold the auth service's access and
  refresh tokens (``access.refresh``); they are HttpOnly, Secure, SameSite=Strict, Path=/ with no Domain. When the
  access token has expired the refresh token is swapped for new ones and the cookie rewritten; the service's
  5-minute idle timeout ends the session (the page then asks to log in again).
* ``__Host-pb_sid`` is a random browser id, renewed at every login. The CSRF token on every form is
  HMAC-SHA256(server secret, sid); every POST is checked against it (``form``), and a mismatch is a 403 page.
* ``__Host-pb_device`` remembers the device id the bank gave this browser, so a trusted device skips the SMS code.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Final

from fastapi import Request, Response
from starlette.datastructures import FormData

from pocketbank.bootstrap import Container
from pocketbank.domain.principals import Principal, PrincipalKind
from pocketbank.errors import PocketBankError, SessionExpired, Unauthenticated
from pocketbank.services.sessions import SessionTokens
from pocketbank.web.i18n import pick_locale

SESSION_COOKIE: Final = "__Host-pb_session"
STAFF_COOKIE: Final = "__Host-pb_staff"
SID_COOKIE: Final = "__Host-pb_sid"
DEVICE_COOKIE: Final = "__Host-pb_device"
LANG_COOKIE: Final = "__Host-pb_lang"
CSRF_FIELD: Final = "csrf_token"
YEAR: Final = 365 * 24 * 3600


class LoginRequired(Exception):
    """No valid session: the page redirects to the (customer or staff) login."""

    def __init__(self, *, staff: bool, reason: str = "") -> None:
        super().__init__(reason)
        self.staff = staff
        self.reason = reason


class CsrfFailed(Exception):
    """A POST without the right CSRF token: answered with a 403 page."""


@dataclass
class Web:
    """Per-request state of the web app: language, browser id, who is logged in, cookies to write."""

    request: Request
    container: Container
    secret: bytes
    locale: str
    sid: str
    new_sid: bool
    set_cookies: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    principal: Principal | None = None

    @property
    def csrf_token(self) -> str:
        return hmac.new(self.secret, b"csrf\x00" + self.sid.encode(), hashlib.sha256).hexdigest()

    def set_cookie(self, name: str, value: str, max_age: int | None = None) -> None:
        self.set_cookies[name] = (value, max_age)

    def clear_cookie(self, name: str) -> None:
        self.set_cookies[name] = ("", 0)

    def rotate_sid(self) -> None:
        self.sid = secrets.token_urlsafe(24)
        self.new_sid = True

    def apply(self, response: Response) -> Response:
        if self.new_sid:
            self.set_cookie(SID_COOKIE, self.sid)
        for name, (value, max_age) in self.set_cookies.items():
            if max_age == 0:
                response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="strict")
            else:
                response.set_cookie(
                    name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="strict"
                )
        return response

    # -- sessions ---------------------------------------------------------------------------------------------

    def start_session(self, tokens: SessionTokens, *, staff: bool) -> None:
        self.rotate_sid()
        self.set_cookie(STAFF_COOKIE if staff else SESSION_COOKIE, f"{tokens.access_token}.{tokens.refresh_token}")
        if tokens.device_id and not staff:
            self.set_cookie(DEVICE_COOKIE, tokens.device_id, YEAR)

    def _principal(self, *, staff: bool) -> Principal:
        name = STAFF_COOKIE if staff else SESSION_COOKIE
        access, _, refresh = self.request.cookies.get(name, "").partition(".")
        if not access or not refresh:
            raise LoginRequired(staff=staff)
        auth, now = self.container.auth, self.container.clock.now_ns()
        try:
            principal = auth.authenticate(access, now)
        except Unauthenticated as first:
            try:  # the access token has expired: swap the refresh token (refused too when the session was idle)
                tokens = auth.refresh(refresh)
                principal = auth.authenticate(tokens.access_token, now)
            except PocketBankError as exc:
                self.clear_cookie(name)
                reason = "idle" if isinstance(exc, SessionExpired) or isinstance(first, SessionExpired) else ""
                raise LoginRequired(staff=staff, reason=reason) from None
            self.set_cookie(name, f"{tokens.access_token}.{tokens.refresh_token}")
        expected = PrincipalKind.STAFF if staff else PrincipalKind.CUSTOMER
        if principal.kind is not expected:
            raise LoginRequired(staff=staff)
        self.principal = principal
        return principal

    def customer(self) -> Principal:
        return self._principal(staff=False)

    def staff(self) -> Principal:
        return self._principal(staff=True)

    def end_session(self, *, staff: bool) -> None:
        """Log out: end the service session if it is still valid, and forget the cookie either way."""
        name = STAFF_COOKIE if staff else SESSION_COOKIE
        access = self.request.cookies.get(name, "").partition(".")[0]
        if access:
            try:
                principal = self.container.auth.authenticate(access, self.container.clock.now_ns())
                self.container.auth.logout(principal)
            except PocketBankError:
                pass  # already ended (idle timeout, revoked): nothing to end
        self.clear_cookie(name)
        self.rotate_sid()


def web(request: Request) -> Web:
    """The request's ``Web`` state (made once per request)."""
    existing = getattr(request.state, "web", None)
    if isinstance(existing, Web):
        return existing
    sid = request.cookies.get(SID_COOKIE, "")
    new_sid = len(sid) < 16 or len(sid) > 64
    if new_sid:
        sid = secrets.token_urlsafe(24)
    locale = pick_locale(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
    state = Web(request, request.app.state.container, request.app.state.web_secret, locale, sid, new_sid)
    request.state.web = state
    return state


async def form(request: Request) -> FormData:
    """The POSTed form, after checking its CSRF token (a FastAPI dependency for every POST route)."""
    data = await request.form()
    w = web(request)
    token = data.get(CSRF_FIELD)
    if w.new_sid or not isinstance(token, str) or not hmac.compare_digest(token, w.csrf_token):
        raise CsrfFailed
    return data


def text(data: FormData, name: str, max_len: int = 200) -> str:
    value = data.get(name)
    return value.strip()[:max_len] if isinstance(value, str) else ""


def secret_field(data: FormData, name: str, max_len: int = 256) -> str:
    """A password field exactly as typed (not stripped)."""
    value = data.get(name)
    return value[:max_len] if isinstance(value, str) else ""
