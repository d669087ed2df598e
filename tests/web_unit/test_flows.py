"""Customer flows through the pages: language, registration, login with a new device, home, transfers, payees."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from web_unit_helpers import PASSWORD, WebCustomer, csrf, deposit, register, sms_code

from pocketbank.bootstrap import Container
from pocketbank.domain.channels import AuthMethod, Channel
from pocketbank.domain.customers import AccountClass
from pocketbank.domain.ids import IdKind, parse_id
from pocketbank.domain.money import CNY, USD, Money
from pocketbank.domain.principals import Principal, PrincipalKind


def test_language_switch_changes_strings(client: TestClient) -> None:
    assert "Welcome to PocketBank" in client.get("/").text
    token = csrf(client, "/")
    r = client.post("/lang", data={"csrf_token": token, "lang": "zh_CN", "next": "/login"})
    assert r.url.path == "/login"
    assert "登录" in r.text and 'lang="zh-CN"' in r.text
    assert "欢迎使用口袋银行" in client.get("/").text
    r = client.post("/lang", data={"csrf_token": token, "lang": "en", "next": "//evil.example/"})
    assert r.url.path == "/" and "Welcome to PocketBank" in r.text


def test_every_message_has_a_chinese_translation() -> None:
    from babel.messages.pofile import read_po

    from pocketbank.web.i18n import LOCALE_DIR

    with (LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = read_po(f)
    messages = [m for m in catalog if m.id]
    assert len(messages) > 150
    assert all(m.string for m in messages)


def test_registration_login_and_new_device(new_client: Callable[[], TestClient], container: Container) -> None:
    phone_client = new_client()
    customer = register(phone_client, container)
    # another browser: password is right, but the device is new, so an SMS code is asked
    browser = new_client()
    token = csrf(browser, "/login")
    r = browser.post("/login", data={"csrf_token": token, "phone": customer.phone, "password": PASSWORD})
    assert r.status_code == 200 and 'id="code"' in r.text and "challenge_id" in r.text
    challenge = re.search(r'name="challenge_id" value="([^"]+)"', r.text)
    assert challenge
    r = browser.post("/login/device", data={"csrf_token": token, "challenge_id": challenge.group(1), "code": "000000"})
    assert r.status_code == 400 and 'id="code-error"' in r.text
    r = browser.post(
        "/login/device",
        data={"csrf_token": token, "challenge_id": challenge.group(1), "code": sms_code(container, customer.e164)},
    )
    assert r.url.path == "/home", r.text
    # log out and back in: the device cookie makes it trusted now, so no code
    token = csrf(browser, "/home")
    browser.post("/logout", data={"csrf_token": token})
    token = csrf(browser, "/login")
    r = browser.post("/login", data={"csrf_token": token, "phone": customer.phone, "password": PASSWORD})
    assert r.url.path == "/home"


def test_wrong_password_and_wrong_code_shown_next_to_the_field(client: TestClient, container: Container) -> None:
    token = csrf(client, "/register")
    r = client.post("/register", data={"csrf_token": token, "phone": "12345"})
    assert r.status_code == 400 and 'id="phone-error"' in r.text and 'aria-invalid="true"' in r.text
    r = client.post("/register", data={"csrf_token": token, "phone": "13912345678"})
    data = {
        "csrf_token": token, "phone": "+8613912345678", "code": "000000", "password": PASSWORD, "name": "Li Lei",
        "id_number": "11010519491231002X",
    }  # fmt: skip
    r = client.post("/register/complete", data=data)
    assert r.status_code == 400
    assert re.search(r'id="code-error"[^>]*>The code is wrong or has expired', r.text)
    # in Chinese too
    client.post("/lang", data={"csrf_token": token, "lang": "zh_CN", "next": "/"})
    r = client.post("/register/complete", data=data | {"id_number": "123"})
    assert 'id="id_number-error"' in r.text and "身份证号码无效" in r.text
    r = client.post("/login", data={"csrf_token": token, "phone": "13912345678", "password": "wrong password x"})
    assert r.status_code == 400 and 'id="password-error"' in r.text and "手机号码或密码不正确" in r.text


def test_home_shows_balances_formatted_for_the_locale(client: TestClient, container: Container) -> None:
    customer = register(client, container)
    deposit(container, customer.account_id, 1_234_567)
    r = client.get("/home")
    shown = Money(1_234_567, CNY).format("en")
    assert shown in r.text and 'id="available-1"' in r.text
    token = csrf(client, "/home")
    r = client.post("/lang", data={"csrf_token": token, "lang": "zh_CN", "next": "/home"})
    assert Money(1_234_567, CNY).format("zh_CN") in r.text and "可用余额" in r.text
    assert "现金存款" in r.text  # latest transactions


def _pair(new_client: Callable[[], TestClient], container: Container) -> tuple[TestClient, WebCustomer, WebCustomer]:
    payer_client, payee_client = new_client(), new_client()
    payer = register(payer_client, container, "Li Lei")
    payee = register(payee_client, container, "Han Meimei")
    deposit(container, payer.account_id, 100_000)
    token = csrf(payer_client, "/payees")
    r = payer_client.post("/payees", data={"csrf_token": token, "name": "Han Meimei", "account_id": "acct_bad"})
    assert r.status_code == 400 and 'id="account_id-error"' in r.text
    r = payer_client.post("/payees", data={"csrf_token": token, "name": "Han Meimei", "account_id": payee.account_id})
    assert r.url.path == "/payees" and payee.account_id in r.text
    return payer_client, payer, payee


def _form(client: TestClient, amount: str, arrival: str = "real_time") -> dict[str, str]:
    page = client.get("/transfer").text
    token = csrf(client, "/transfer")
    payee = re.search(r'<option value="(pye_[0-9A-Z]+)"', page)
    account = re.search(r'<option value="(acct_[0-9A-Z]+)"', page)
    assert payee and account
    return {
        "csrf_token": token, "from_account": account.group(1), "payee_id": payee.group(1), "amount": amount,
        "arrival": arrival, "memo": "dinner",
    }  # fmt: skip


def _balance(container: Container, account_id: str) -> int:
    view = container.accounts.find(parse_id(IdKind.ACCOUNT, account_id))
    assert view is not None
    return container.accounts.view(view).balance


def test_transfer_end_to_end_moves_money_once(new_client: Callable[[], TestClient], container: Container) -> None:
    client, payer, payee = _pair(new_client, container)
    form = _form(client, "12.5x")
    r = client.post("/transfer/quote", data=form)
    assert r.status_code == 400 and 'id="amount-error"' in r.text
    form["amount"] = "123.45"
    r = client.post("/transfer/quote", data=form)
    assert r.status_code == 200 and ('id="fee-waived"' in r.text or 'id="fee-free"' in r.text) and ">Free<" in r.text
    r = client.post("/transfer/confirm", data=form | {"step": "send"})
    assert r.status_code == 200 and 'id="code"' in r.text
    challenge = re.search(r'name="challenge_id" value="([^"]+)"', r.text)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', r.text)
    assert challenge and key
    submit = form | {"step": "submit", "challenge_id": challenge.group(1), "idempotency_key": key.group(1)}
    r = client.post("/transfer/confirm", data=submit | {"code": "000000"})
    assert r.status_code == 400 and 'id="code-error"' in r.text
    submit["code"] = sms_code(container, payer.e164)
    r = client.post("/transfer/confirm", data=submit)
    assert r.url.path.startswith("/transfers/tr_") and 'id="status"' in r.text and "Completed" in r.text
    receipt = r.url.path
    assert _balance(container, payer.account_id) == 100_000 - 12_345
    assert _balance(container, payee.account_id) == 12_345
    again = client.post("/transfer/confirm", data=submit)  # the same form submitted twice
    assert again.url.path == receipt
    assert _balance(container, payer.account_id) == 100_000 - 12_345
    assert Money(100_000 - 12_345, CNY).format("en") in client.get("/home").text


def _send_delayed(client: TestClient, container: Container, payer: WebCustomer) -> Any:
    """A delayed 50.00 transfer to the payee, confirmed with its SMS code; returns the receipt page."""
    form = _form(client, "50", "delayed")
    r = client.post("/transfer/confirm", data=form | {"step": "send"})
    key = re.search(r'name="idempotency_key" value="([^"]+)"', r.text)
    challenge = re.search(r'name="challenge_id" value="([^"]+)"', r.text)
    assert key and challenge
    submit = form | {
        "step": "submit", "challenge_id": challenge.group(1), "idempotency_key": key.group(1),
        "code": sms_code(container, payer.e164),
    }  # fmt: skip
    return client.post("/transfer/confirm", data=submit)


def test_delayed_transfer_can_be_cancelled(new_client: Callable[[], TestClient], container: Container) -> None:
    client, payer, _ = _pair(new_client, container)
    r = _send_delayed(client, container, payer)
    assert "Scheduled" in r.text and 'id="cancel"' in r.text
    token = csrf(client, r.url.path)
    r = client.post(r.url.path + "/cancel", data={"csrf_token": token})
    assert "Cancelled" in r.text and 'id="cancel"' not in r.text
    assert _balance(container, payer.account_id) == 100_000


def test_home_shows_the_five_latest_entries_past_cancelled_holds(
    new_client: Callable[[], TestClient], container: Container
) -> None:
    client, payer, _ = _pair(new_client, container)
    for i in range(5):
        deposit(container, payer.account_id, 100 + i)
    for _ in range(2):  # each leaves a hold and its void in the ledger, newest first, neither shown
        r = _send_delayed(client, container, payer)
        r = client.post(r.url.path + "/cancel", data={"csrf_token": csrf(client, r.url.path)})
        assert "Cancelled" in r.text
    latest = client.get("/home").text.split('id="latest"', 1)[1]
    assert latest.count('class="row"') == 5 and latest.count("Cash deposit") == 5


def test_account_history_scrolls_with_the_cursor(client: TestClient, container: Container) -> None:
    customer = register(client, container)
    for i in range(25):
        deposit(container, customer.account_id, 100 + i)
    r = client.get(f"/accounts/{customer.account_id}")
    assert r.text.count('class="row"') == 20 and 'hx-trigger="revealed"' in r.text
    more = re.search(r'hx-get="([^"]+)"', r.text)
    assert more
    r = client.get(more.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
    assert r.text.count('class="row"') == 5 and "revealed" not in r.text and "<html" not in r.text
    r = client.get(f"/accounts/{customer.account_id}?direction=out")
    assert "No transactions." in r.text


def test_payees_security_limits_totp(client: TestClient, container: Container) -> None:
    register(client, container)
    r = client.get("/limits")
    assert Money(1_000_000, CNY).format("en") in r.text and 'id="method-limits-CNY"' in r.text
    r = client.get("/security")
    assert "web browser" in r.text and 'id="logout-all"' in r.text
    token = csrf(client, "/security")
    r = client.post("/security/password", data={"csrf_token": token, "old_password": "nope", "new_password": "x"})
    assert r.status_code == 400 and ('id="old_password-error"' in r.text or 'id="new_password-error"' in r.text)
    r = client.post("/security/totp", data={"csrf_token": token})
    assert "<svg" in r.text and 'id="totp-qr"' in r.text
    svg = r.text[r.text.index("<svg") : r.text.index("</svg>")]
    assert "style" not in svg
    r = client.post("/security/logout-all", data={"csrf_token": token})
    assert r.url.path == "/login" and client.get("/home").url.path == "/login"


def test_every_customer_page_renders_in_chinese(client: TestClient, container: Container) -> None:
    customer = register(client, container)
    deposit(container, customer.account_id, 5_000)
    token = csrf(client, "/home")
    client.post("/lang", data={"csrf_token": token, "lang": "zh_CN", "next": "/"})
    for path in [
        "/home",
        f"/accounts/{customer.account_id}",
        "/transfer",
        "/payees",
        "/security",
        "/limits",
        "/offline",
    ]:
        r = client.get(path)
        assert r.status_code == 200 and 'lang="zh-CN"' in r.text, path
        assert "口袋银行" in r.text, path


def test_limits_show_every_currency_the_customer_holds(client: TestClient, container: Container) -> None:
    cust = register(client, container)
    r = client.get("/limits")
    assert 'id="limits-CNY"' in r.text and 'id="limits-USD"' not in r.text
    internal = parse_id(IdKind.CUSTOMER, cust.customer_id)
    me = Principal(PrincipalKind.CUSTOMER, internal, cust.customer_id, 0, Channel.MOBILE, AuthMethod.PASSWORD)
    container.accounts.open_account(me, "USD")
    r = client.get("/limits")
    usd = container.transfers.limits.schedule("USD")
    daily = usd.classes[AccountClass.II].daily_out
    assert daily is not None
    assert 'id="limits-USD"' in r.text and Money(daily, USD).format("en") in r.text
    # The USD section shows USD amounts, not the CNY figures under another name.
    section = r.text[r.text.index('id="limits-USD"') :]
    assert Money(usd.cooling_off.cap, USD).format("en") in section
