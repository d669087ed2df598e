"""Helpers for the web app tests (``from web_unit_helpers import register``): sign-up, CSRF tokens, staff, deposits."""

from __future__ import annotations

import contextlib
import itertools
import re
from dataclasses import dataclass

from fastapi.testclient import TestClient
from stdnum.cn import ric

from pocketbank.bootstrap import Container
from pocketbank.domain.accounts import derive_id
from pocketbank.domain.channels import AuthMethod, Channel
from pocketbank.domain.ids import IdKind, format_id, parse_id
from pocketbank.domain.principals import Principal, PrincipalKind, StaffRole
from pocketbank.errors import Conflict
from pocketbank.integrations.sms import MemorySmsSender

BASE = "https://testserver"
STAFF_PASSWORD = "counter staff passphrase"
PASSWORD = "plum tree lantern 42"
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
_phones = itertools.count(1)


def csrf(client: TestClient, path: str = "/") -> str:
    r = client.get(path)
    m = _CSRF.search(r.text)
    assert m, r.text[:500]
    return m.group(1)


def sms_code(container: Container, e164: str) -> str:
    sms = container.sms
    assert isinstance(sms, MemorySmsSender)
    return sms.last_code(e164)


def prc_id(seq: int) -> str:
    body = f"11010519491231{seq % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


@dataclass
class WebCustomer:
    phone: str  # as typed
    e164: str
    account_id: str  # acct_…
    customer_id: str  # cus_…


def register(client: TestClient, container: Container, name: str = "Wang Fang") -> WebCustomer:
    """Sign up through the pages; the client ends logged in on /home."""
    n = next(_phones)
    phone = f"1391000{n:04d}"
    token = csrf(client, "/register")
    r = client.post("/register", data={"csrf_token": token, "phone": phone})
    assert r.status_code == 200, r.text
    e164 = "+86" + phone
    data = {
        "csrf_token": token, "phone": e164, "code": sms_code(container, e164), "password": PASSWORD,
        "name": name, "id_number": prc_id(n + 500),
    }  # fmt: skip
    r = client.post("/register/complete", data=data)
    assert r.status_code == 200 and r.url.path == "/home", r.text
    account = re.search(r"/accounts/(acct_[0-9A-Z]+)", r.text)
    assert account
    view = container.staff.find_customer(_teller_principal(container), phone=e164)
    return WebCustomer(phone, e164, account.group(1), view.id)


def _teller_principal(container: Container) -> Principal:
    """A teller principal for set-up calls (no login, so no login rate limit)."""
    return Principal(
        PrincipalKind.STAFF, 7, format_id(IdKind.STAFF, 7), 0, Channel.COUNTER, AuthMethod.STAFF, role=StaffRole.TELLER
    )


def staff_user(container: Container, username: str, role: StaffRole) -> None:
    with contextlib.suppress(Conflict):
        container.staff.create_staff_user(username, "Zhao Min", role, STAFF_PASSWORD)


def staff_login(client: TestClient, container: Container, username: str, role: StaffRole) -> None:
    staff_user(container, username, role)
    token = csrf(client, "/staff/login")
    r = client.post("/staff/login", data={"csrf_token": token, "username": username, "password": STAFF_PASSWORD})
    assert r.status_code == 200 and r.url.path == "/staff", r.text


def deposit(container: Container, account_id: str, minor: int) -> None:
    teller = _teller_principal(container)
    account = parse_id(IdKind.ACCOUNT, account_id)
    container.accounts.deposit_cash(teller, account, minor, derive_id("test-deposit", account_id, minor, next(_phones)))
