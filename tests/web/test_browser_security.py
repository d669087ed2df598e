"""Security in the browser: forged cross-site form posts are refused, the CSP stops an injected inline script, and
the idle timers warn at 4 minutes and log out at 5 (Playwright's clock drives the page's timers; the server's
session ends through ``/logout?reason=idle``)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from playwright.sync_api import Page, Route, expect
from web_helpers import LANGS, LiveServer, Seeder, login, serve, shot, stop

from pocketbank.errors import PocketBankError


class Attacker:
    """A second in-process server (another origin) that serves whatever page the test gives it."""

    def __init__(self) -> None:
        self.page = "<!doctype html><title>nothing</title>"
        app = FastAPI()

        @app.get("/")
        def index() -> HTMLResponse:
            return HTMLResponse(self.page)

        self.server, self.thread, self.port = serve(app)

    def url(self, host: str) -> str:
        return f"http://{host}:{self.port}/"

    def forged_form(self, action: str, fields: dict[str, str]) -> None:
        inputs = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in fields.items()
        )
        self.page = (
            "<!doctype html><title>You won a prize</title>"
            f'<form id="f" method="post" action="{html.escape(action)}">{inputs}<button id="go">Claim</button></form>'
        )


@pytest.fixture
def attacker() -> Iterator[Attacker]:
    a = Attacker()
    yield a
    stop(a.server, a.thread)


@pytest.mark.parametrize(
    "attacker_host",
    [
        "127.0.0.1",  # another origin of the same site: the session cookie goes along; the CSRF token refuses it
        "localhost",  # another site: SameSite=Strict keeps the session cookie at home
    ],
)
def test_forged_cross_site_posts_are_refused(
    page: Page, live_server: LiveServer, seed: Seeder, attacker: Attacker, attacker_host: str
) -> None:
    victim = seed.customer(deposit=1_000_00)
    thief = seed.customer(name="Mallory")
    payee = seed.payee(victim, thief)
    login(page, live_server, victim)
    payees_before = len(live_server.container.payees.list(victim.principal))
    sms_before = live_server.sms_count(victim.e164)
    forged = [
        ("/payees", {"name": "Mallory 2", "account_id": thief.account_id}),
        ("/transfer/confirm", {
            "from_account": victim.account_id, "payee_id": payee, "amount": "999.00", "arrival": "real_time",
            "step": "send", "csrf_token": "0" * 64,
        }),
        ("/transfer/confirm", {
            "from_account": victim.account_id, "payee_id": payee, "amount": "999.00", "arrival": "real_time",
            "step": "submit", "challenge_id": "chl_x", "code": "123456", "idempotency_key": "k" * 20,
        }),
        ("/security/logout-all", {}),
    ]  # fmt: skip
    for n, (path, fields) in enumerate(forged):
        attacker.forged_form(live_server.url + path, fields)
        page.goto(attacker.url(attacker_host))
        with page.expect_navigation() as nav:
            page.click("#go")
        response = nav.value
        assert response is not None
        if attacker_host == "127.0.0.1":
            assert response.status == 403, (path, response.status)
            expect(page.locator("#error-text")).to_have_attribute("data-code", "csrf")
            if n == 0:
                shot(page, "30-csrf-refused")
        else:  # a cross-site post carries no cookie at all: refused (no browser id → CSRF page) or "log in"
            assert response.status == 403 or "/login" in page.url, (path, response.status, page.url)
    assert seed.balance(victim.account_id) == 1_000_00
    assert seed.balance(thief.account_id) == 0
    assert len(live_server.container.payees.list(victim.principal)) == payees_before
    assert live_server.sms_count(victim.e164) == sms_before
    page.goto(live_server.url + "/home")  # still logged in: "log out everywhere" did not happen
    expect(page).to_have_url(live_server.url + "/home")


def test_csp_blocks_an_injected_inline_script(page: Page, live_server: LiveServer, seed: Seeder) -> None:
    cust = seed.customer()
    login(page, live_server, cust)
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    # A listener installed by the browser itself (init scripts are not subject to the page's CSP).
    page.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    injected: list[str] = []

    def inject(route: Route) -> None:
        response = route.fetch()
        body = response.text()
        assert "content-security-policy" in response.headers, "the page has no CSP header"
        injected.append(response.headers["content-security-policy"])
        body = body.replace('<main id="main">', '<main id="main"><script>window.__inline_ran = 1</script>', 1)
        body = body.replace("</main>", '<img src="x" alt="" onerror="window.__handler_ran = 1"></main>', 1)
        route.fulfill(response=response, body=body)

    page.route(re.compile(r"/home$"), inject)
    page.goto(live_server.url + "/home")
    assert injected, "the route did not see /home"
    assert "script-src 'self'" in injected[0]
    page.wait_for_function("window.__violations.length >= 2")
    assert page.evaluate("window.__inline_ran") is None
    assert page.evaluate("window.__handler_ran") is None
    violations: list[str] = page.evaluate("window.__violations")
    assert any(v.startswith("script-src") for v in violations), violations
    assert any("Content Security Policy" in m for m in console), console
    expect(page.locator("#available-1")).to_be_visible()  # the app's own scripts and styles still load
    assert page.evaluate("typeof window.htmx") == "object"


@pytest.mark.parametrize("lang", LANGS)
def test_idle_warning_then_logout(page: Page, live_server: LiveServer, seed: Seeder, lang: str) -> None:
    cust = seed.customer()
    page.clock.install()
    login(page, live_server, cust)
    cookie = next(c for c in page.context.cookies() if c["name"] == "__Host-pb_session")
    banner = page.locator("#idle-warning")
    expect(banner).to_be_hidden()
    page.clock.fast_forward("03:50")
    expect(banner).to_be_hidden()
    page.clock.fast_forward("00:11")  # 4 minutes without a tap: the warning
    expect(banner).to_be_visible()
    shot(page, "31-idle-warning")
    page.mouse.click(5, 400)  # a tap: stay logged in
    expect(banner).to_be_hidden()
    page.clock.fast_forward("04:01")
    expect(banner).to_be_visible()
    with page.expect_navigation(url=re.compile(r"/login\?reason=idle")):
        page.clock.fast_forward("01:00")  # 5 minutes: logged out
    expect(page.locator("#idle-notice")).to_be_visible()
    shot(page, "32-idle-logged-out")
    assert not any(c["name"] == "__Host-pb_session" for c in page.context.cookies())

    # The server ended that session too: the old cookie, put back, no longer opens the home page.
    page.context.add_cookies([cookie])  # type: ignore[list-item]
    page.goto(live_server.url + "/home")
    expect(page).to_have_url(re.compile(r"/login"))


def test_logout_idle_ends_the_server_session(page: Page, live_server: LiveServer, seed: Seeder) -> None:
    cust = seed.customer()
    login(page, live_server, cust)
    access = next(c for c in page.context.cookies() if c["name"] == "__Host-pb_session")["value"].partition(".")[0]
    auth, clock = live_server.container.auth, live_server.container.clock
    auth.authenticate(access, clock.now_ns())  # valid now
    page.goto(live_server.url + "/logout?reason=idle")
    expect(page.locator("#idle-notice")).to_be_visible()
    with pytest.raises(PocketBankError):
        auth.authenticate(access, clock.now_ns())
