"""Helpers for the browser tests (``from web_helpers import ...``): the live server, seeding through the services,
logging in through the pages, screenshots and the in-page quality checks.

Fixtures are in ``tests/web/conftest.py``; this module holds what tests import by name.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from playwright.sync_api import Page, expect
from stdnum.cn import ric

from pocketbank.bootstrap import Container
from pocketbank.domain.accounts import derive_id
from pocketbank.domain.channels import AuthMethod, Channel
from pocketbank.domain.customers import IdKind as DocumentKind
from pocketbank.domain.ids import IdKind, format_id, parse_id
from pocketbank.domain.principals import Principal, StaffRole
from pocketbank.domain.stepup import binding_digest
from pocketbank.integrations.sms import MemorySmsSender
from pocketbank.services.auth_common import RateLimits, RateRule
from pocketbank.services.transfers import StepUpProof, TransferDraft

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "test-artefacts" / "screenshots"
LANGS = ["zh_CN", "en"]
LOCALES = {"zh_CN": "zh-CN", "en": "en-US"}
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}
PHONE_VIEWPORT = {"width": 390, "height": 844}
NARROW_VIEWPORT = {"width": 360, "height": 780}
ANDROID_CHROME_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Mobile Safari/537.36"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "plum tree lantern 42"
STAFF_PASSWORD = "counter staff passphrase"


# --- screenshots -----------------------------------------------------------------------------------------------

_context_langs: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def remember_lang(context: Any, lang: str) -> None:
    _context_langs[context] = lang


def shot(page: Page, name: str) -> Path:
    """A full-page screenshot: ``test-artefacts/screenshots/<lang>/<name>.png`` (the folder is git-ignored)."""
    lang = _context_langs.get(page.context, "en")
    path = SCREENSHOTS / lang / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


# --- the live server -------------------------------------------------------------------------------------------


@dataclass
class LiveServer:
    url: str  # http://127.0.0.1:PORT, no trailing slash
    container: Container

    @property
    def sms(self) -> MemorySmsSender:
        sms = self.container.sms
        assert isinstance(sms, MemorySmsSender)
        return sms

    def sms_code(self, e164: str) -> str:
        return self.sms.last_code(e164)

    def sms_count(self, e164: str) -> int:
        return sum(1 for m in self.sms.sent if m.phone == e164)

    def get(self, path: str) -> tuple[int, str]:
        """A plain GET without cookies: (status, body)."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


def relax_rate_limits(container: Container) -> None:
    """Every browser request comes from 127.0.0.1: lift the per-client and per-customer limits for the tests."""
    container.auth.d.limits = RateLimits(
        sms_per_phone=RateRule(10_000, 900),
        sms_per_client=RateRule(10_000, 3600),
        challenges_per_customer=RateRule(10_000, 600),
        step_up_checks_per_customer=RateRule(10_000, 3600),
        login_per_phone=RateRule(10_000, 900),
        login_per_client=RateRule(10_000, 60),
    )


def serve(app: Any, host: str = "127.0.0.1") -> tuple[uvicorn.Server, threading.Thread, int]:
    """Serve ``app`` with uvicorn in a daemon thread on a free loopback port; returns once it listens."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    return server, thread, port


def stop(server: uvicorn.Server, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(timeout=10)
    if thread.is_alive():  # pragma: no cover - a stuck keep-alive connection
        server.force_exit = True
        thread.join(timeout=5)


# --- seeding through the services ------------------------------------------------------------------------------

_numbers = itertools.count(1)


def id_number(n: int) -> str:
    """A valid PRC resident id number, different for each ``n`` below 10,000."""
    body = f"110105{1960 + n // 1000}0101{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def new_phone() -> str:
    """A national mobile number nobody else in this run uses (137 + 8 digits)."""
    return f"137{os.getpid() % 10_000:04d}{next(_numbers):04d}"


def new_id_number() -> str:
    return id_number(next(_numbers))


@dataclass
class Customer:
    phone: str  # national, as typed on a phone
    e164: str
    password: str
    name: str
    principal: Principal
    account_id: str  # acct_…
    device_id: str  # dev_… (the seeding device, trusted)


@dataclass
class Seeder:
    server: LiveServer
    _teller: Principal | None = None

    @property
    def c(self) -> Container:
        return self.server.container

    def customer(self, *, name: str = "Wang Fang", password: str = PASSWORD, deposit: int = 0) -> Customer:
        """A registered customer (through the services); ``deposit`` is cash in fen paid in at the counter."""
        c = self.c
        phone = new_phone()
        started = c.customers.start_registration(phone, Channel.MOBILE, "seed")
        reg = c.customers.register(
            phone=started.phone,
            code=self.server.sms_code(started.phone),
            password=password,
            name=name,
            id_kind=DocumentKind.PRC_RESIDENT_ID,
            id_number=new_id_number(),
            device_label="seed phone",
            channel=Channel.MOBILE,
            client_key="seed",
        )
        principal = c.auth.authenticate(reg.session.access_token, c.clock.now_ns())
        account = reg.account_id or ""
        cust = Customer(phone, started.phone, password, name, principal, account, reg.session.device_id or "")
        if deposit:
            self.deposit(cust.account_id, deposit)
        return cust

    def staff(self, username: str = "teller1", role: StaffRole = StaffRole.TELLER) -> tuple[str, str, Principal]:
        """A staff user (created if new): (username, password, a logged-in principal)."""
        c = self.c
        with contextlib.suppress(Exception):
            c.staff.create_staff_user(username, "Zhao Min", role, STAFF_PASSWORD)
        tokens = c.staff.login(username, STAFF_PASSWORD, "seed")
        return username, STAFF_PASSWORD, c.auth.authenticate(tokens.access_token, c.clock.now_ns())

    def deposit(self, account_id: str, amount: int) -> None:
        if self._teller is None:
            self._teller = self.staff("seed-teller")[2]
        account = parse_id(IdKind.ACCOUNT, account_id)
        self.c.accounts.deposit_cash(self._teller, account, amount, derive_id("web-test", uuid.uuid4().hex))

    def payee(self, owner: Customer, other: Customer, name: str | None = None) -> str:
        p = self.c.payees.add(owner.principal, name or other.name, parse_id(IdKind.ACCOUNT, other.account_id))
        return format_id(IdKind.PAYEE, p.id)

    def transfer(self, owner: Customer, payee_id: str, amount: int, memo: str = "") -> str:
        """A mobile transfer through the services, confirmed with the SMS step-up code; returns its id."""
        c = self.c
        payee = parse_id(IdKind.PAYEE, payee_id)
        draft = TransferDraft(parse_id(IdKind.ACCOUNT, owner.account_id), amount, "CNY", payee_id=payee, memo=memo)
        binding = binding_digest(owner.principal.public_id, amount, "CNY", payee_id)
        challenge = c.auth.create_challenge(owner.principal, AuthMethod.SMS, binding, c.clock.now_ns())
        proof = StepUpProof(challenge.id, self.server.sms_code(owner.e164))
        record = c.transfers.create(owner.principal, draft, uuid.uuid4().hex, proof)
        return format_id(IdKind.TRANSFER, record.id)

    def balance(self, account_id: str) -> int:
        account = self.c.accounts.find(parse_id(IdKind.ACCOUNT, account_id))
        assert account is not None
        return self.c.accounts.view(account).balance


# --- driving the pages -----------------------------------------------------------------------------------------


def submit(page: Page, selector: str) -> None:
    """Click a submit button and wait for the page it leads to."""
    with page.expect_navigation():
        page.click(selector)


def assert_lang(page: Page, lang: str) -> None:
    """The page is in ``lang``: ``<html lang>`` and, for Chinese, Chinese text in the heading."""
    expect(page.locator("html")).to_have_attribute("lang", HTML_LANG[lang])
    h1 = page.locator("h1").first.inner_text()
    has_cjk = any("\u4e00" <= ch <= "\u9fff" for ch in h1)
    assert has_cjk == (lang == "zh_CN"), f"heading {h1!r} is not in {lang}"


def login(page: Page, server: LiveServer, cust: Customer, *, new_device: bool | None = None) -> None:
    """Log in through /login; a new device answers the SMS code page. Ends on /home."""
    page.goto(server.url + "/login")
    page.fill("#phone", cust.phone)
    page.fill("#password", cust.password)
    submit(page, "#login")
    if "/home" not in page.url:
        assert new_device is not False, f"a trusted device was asked for a code: {page.url}"
        expect(page.locator("#confirm-device")).to_be_visible()
        page.fill("#code", server.sms_code(cust.e164))
        submit(page, "#confirm-device")
    else:
        assert new_device is not True, "a new device was not asked for the SMS code"
    expect(page).to_have_url(server.url + "/home")


def staff_login(page: Page, server: LiveServer, username: str, password: str) -> None:
    page.goto(server.url + "/staff/login")
    page.fill("#username", username)
    page.fill("#password", password)
    submit(page, "#staff-login")
    expect(page).to_have_url(server.url + "/staff")


# --- quality checks in the page --------------------------------------------------------------------------------

QUALITY_JS = """() => {
  const problems = [];
  const html = document.documentElement;
  if (html.scrollWidth > window.innerWidth) {
    problems.push(`horizontal scroll: scrollWidth ${html.scrollWidth} > innerWidth ${window.innerWidth}`);
  }
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';
  };
  // Touch targets: buttons and links of the main content and the tab bar. A link inside a sentence is exempt
  // (WCAG 2.5.8 "inline" exception): a link whose parent element has text of its own besides the link.
  const inline = (a) => {
    const p = a.parentElement;
    if (!p || !['P', 'LI', 'SPAN', 'DD', 'SMALL'].includes(p.tagName)) return false;
    return p.textContent.trim().length > a.textContent.trim().length;
  };
  for (const el of document.querySelectorAll('main button, main a, main input[type=submit], nav.tabs a')) {
    if (!visible(el) || (el.tagName === 'A' && inline(el))) continue;
    const r = el.getBoundingClientRect();
    if (r.height < 44 || r.width < 44) {
      const text = (el.textContent || '').trim().slice(0, 30);
      const size = `${Math.round(r.width)}x${Math.round(r.height)}`;
      problems.push(`touch target ${el.tagName.toLowerCase()}#${el.id || '?'} "${text}" ${size}`);
    }
  }
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    if (!el.labels || el.labels.length === 0) {
      problems.push(`no label: ${el.tagName.toLowerCase()}#${el.id || '?'} name=${el.name}`);
    }
  }
  return problems;
}"""


def quality_problems(page: Page) -> list[str]:
    """No horizontal scrolling, touch targets of at least 44×44 px, a label for every input."""
    problems: list[str] = page.evaluate(QUALITY_JS)
    return problems


def focus_problem(page: Page) -> str | None:
    """Tab (the keyboard) to the first input of the page: its focus must be visible (an outline, not none/0px)."""
    page.locator("body").focus()
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    for _ in range(25):
        page.keyboard.press("Tab")
        tag = page.evaluate("() => document.activeElement ? document.activeElement.tagName : ''")
        kind = page.evaluate("() => document.activeElement ? (document.activeElement.type || '') : ''")
        if tag in ("INPUT", "SELECT") and kind != "hidden":
            break
    else:
        return "no input reached with Tab"
    style = page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
        return {style: s.outlineStyle, width: s.outlineWidth, id: document.activeElement.id,
                visible: document.activeElement.matches(':focus-visible')}; }"""
    )
    if style["style"] == "none" or style["width"] in ("0px", ""):
        return f"focus is not visible on #{style['id']}: outline {style['style']} {style['width']}"
    return None
