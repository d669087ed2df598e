"""The login pages under lockout (staff and customer): a locked user gets 423, Retry-After and the lock message; a
wrong password stays a 400."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from web_unit_helpers import PASSWORD, STAFF_PASSWORD, csrf, register, staff_user

from pocketbank.bootstrap import Container
from pocketbank.domain.clock import ManualClock
from pocketbank.domain.principals import StaffRole
from pocketbank.services.auth_common import LOCK_THRESHOLD

WRONG = "not the staff passphrase"
LOCKED_EN = "Too many failed logins. Try again later."
LOCKED_ZH = "登录失败次数过多，请稍后再试。"
WRONG_EN = "The mobile number or password is not right."


def _login(client: TestClient, token: str, username: str, password: str) -> Any:
    return client.post("/staff/login", data={"csrf_token": token, "username": username, "password": password})


def test_locked_staff_login_is_423_with_the_lock_message(
    client: TestClient, container: Container, clock: ManualClock
) -> None:
    staff_user(container, "teller-locked", StaffRole.TELLER)
    token = csrf(client, "/staff/login")
    for _ in range(LOCK_THRESHOLD):  # the last of these locks the account, but is itself answered as a wrong password
        r = _login(client, token, "teller-locked", WRONG)
        assert r.status_code == 400 and WRONG_EN in r.text and LOCKED_EN not in r.text
    r = _login(client, token, "teller-locked", STAFF_PASSWORD)
    assert r.status_code == 423 and r.url.path == "/staff/login", r.text[:500]
    assert re.search(r'id="password-error"[^>]*>' + re.escape(LOCKED_EN), r.text)
    assert 'value="teller-locked"' in r.text  # the user name stays filled in
    assert 0 < int(r.headers["Retry-After"]) <= 60
    client.post("/lang", data={"csrf_token": token, "lang": "zh_CN", "next": "/staff/login"})
    r = _login(client, token, "teller-locked", STAFF_PASSWORD)
    assert r.status_code == 423 and LOCKED_ZH in r.text
    clock.advance(61)  # the lock runs out: the right password works again
    r = _login(client, token, "teller-locked", STAFF_PASSWORD)
    assert r.status_code == 200 and r.url.path == "/staff"


def test_wrong_staff_password_on_an_unlocked_user_is_still_a_400(client: TestClient, container: Container) -> None:
    staff_user(container, "teller-unlocked", StaffRole.TELLER)
    token = csrf(client, "/staff/login")
    r = _login(client, token, "teller-unlocked", WRONG)
    assert r.status_code == 400 and "Retry-After" not in r.headers
    assert re.search(r'id="password-error"[^>]*>' + re.escape(WRONG_EN), r.text)
    assert LOCKED_EN not in r.text


def test_locked_customer_login_is_423_too(
    client: TestClient, container: Container, new_client: Callable[[], TestClient]
) -> None:
    customer = register(client, container)
    other = new_client()  # another phone, without the first one's session
    token = csrf(other, "/login")

    def login(password: str) -> Any:
        return other.post("/login", data={"csrf_token": token, "phone": customer.e164, "password": password})

    for _ in range(LOCK_THRESHOLD):
        assert login(WRONG).status_code == 400
    r = login(PASSWORD)
    assert r.status_code == 423 and LOCKED_EN in r.text, r.text[:500]
    assert int(r.headers["Retry-After"]) > 0
