"""Customer flows end to end in Chromium against the live server, in Chinese and in English, a screenshot of each
screen: welcome and language, registration with the SMS code, login on a new device, TOTP enrolment, home, account
history (filters, endless scrolling), transfer (payee, amount, arrival, free quote, SMS step-up, receipt),
cancelling a delayed transfer, payees, devices and security, limits."""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.sync_api import Page, expect
from web_helpers import (
    LANGS,
    LOCALES,
    Customer,
    LiveServer,
    Seeder,
    assert_lang,
    login,
    new_id_number,
    new_phone,
    shot,
    submit,
)

from pocketbank.domain.channels import AuthMethod

BY_LANG = pytest.mark.parametrize("lang", LANGS)


def other(lang: str) -> str:
    return "en" if lang == "zh_CN" else "zh_CN"


BUTTON = {"zh_CN": "#welcome-zh", "en": "#welcome-en"}


@BY_LANG
def test_welcome_language_and_registration(page: Page, live_server: LiveServer, lang: str) -> None:
    page.goto(live_server.url + "/")
    assert_lang(page, lang)  # from the phone's Accept-Language
    shot(page, "01-welcome")
    submit(page, BUTTON[other(lang)])
    assert_lang(page, other(lang))
    submit(page, BUTTON[lang])
    assert_lang(page, lang)
    assert any(c["name"] == "__Host-pb_lang" for c in page.context.cookies())

    submit(page, "#go-register")
    phone = new_phone()
    page.fill("#phone", phone)
    shot(page, "02-register-phone")
    submit(page, "#send-code")
    e164 = "+86" + phone
    assert live_server.sms_count(e164) == 1
    expect(page.locator("#register")).to_be_visible()
    page.fill("#code", "000000" if live_server.sms_code(e164) != "000000" else "111111")
    page.fill("#password", "plum tree lantern 42")
    page.fill("#name", "李雷" if lang == "zh_CN" else "Li Lei")
    page.fill("#id_number", new_id_number())
    submit(page, "#register")  # a wrong code: the form comes back with the error at the code field
    expect(page.locator("#code-error")).to_be_visible()
    expect(page.locator("#code")).to_have_attribute("aria-invalid", "true")
    shot(page, "03-register-wrong-code")
    page.fill("#code", live_server.sms_code(e164))
    page.fill("#password", "plum tree lantern 42")
    shot(page, "04-register-details")
    submit(page, "#register")
    expect(page).to_have_url(live_server.url + "/home")
    expect(page.locator("h1")).to_contain_text("李雷" if lang == "zh_CN" else "Li Lei")
    assert_lang(page, lang)
    shot(page, "05-home-new-customer")


@BY_LANG
def test_login_new_device_then_trusted_and_totp(page: Page, live_server: LiveServer, seed: Seeder, lang: str) -> None:
    cust = seed.customer()
    page.goto(live_server.url + "/login")
    assert_lang(page, lang)
    page.fill("#phone", cust.phone)
    shot(page, "06-login")
    page.fill("#password", "wrong password here")
    submit(page, "#login")
    expect(page.locator("#password-error")).to_be_visible()
    sent = live_server.sms_count(cust.e164)
    page.fill("#password", cust.password)
    submit(page, "#login")
    expect(page.locator("#confirm-device")).to_be_visible()  # a new device: the SMS code is asked
    assert live_server.sms_count(cust.e164) == sent + 1
    assert_lang(page, lang)
    shot(page, "07-login-new-device")
    page.fill("#code", live_server.sms_code(cust.e164))
    submit(page, "#confirm-device")
    expect(page).to_have_url(live_server.url + "/home")

    submit(page, "#logout")
    login(page, live_server, cust, new_device=False)  # the device is trusted now: no code

    page.goto(live_server.url + "/security")
    submit(page, "#totp-start")
    qr = page.locator("#totp-qr svg")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 150, box
    secret = page.locator("#totp-secret").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7 ]{16,}", secret), secret
    assert_lang(page, lang)
    shot(page, "08-totp-enrol")
    page.fill("#code", pyotp.TOTP(secret.replace(" ", "")).now())
    submit(page, "#totp-confirm")
    expect(page.locator(".notice")).to_be_visible()
    expect(page.locator("#totp-start")).to_have_count(0)
    shot(page, "09-totp-active")


@BY_LANG
def test_home_and_account_history(page: Page, live_server: LiveServer, seed: Seeder, lang: str) -> None:
    cust = seed.customer(deposit=10_000_00)
    for _ in range(44):
        seed.deposit(cust.account_id, 1_00)
    friend = seed.customer(name="Li Lei")
    seed.transfer(cust, seed.payee(cust, friend), 12_50, memo="lunch")  # 45 in, 1 out: 46 rows, > 2 pages

    login(page, live_server, cust)
    expect(page.locator("#available-1")).to_contain_text("10,031.50")
    expect(page.locator("#latest li")).to_have_count(5)
    expect(page.locator("#latest")).to_contain_text("lunch")
    assert_lang(page, lang)
    shot(page, "10-home")

    submit(page, ".card-link")
    expect(page).to_have_url(re.compile(r"/accounts/acct_"))
    rows = page.locator("#history li.row")
    expect(rows).to_have_count(20)
    expect(page.locator("#history .sentinel")).to_have_count(1)
    assert_lang(page, lang)
    shot(page, "11-account")
    for expected in (40, 46):  # endless scrolling: each time the bottom comes into view, the next page arrives
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        expect(rows).to_have_count(expected)
    expect(page.locator("#history .sentinel")).to_have_count(0)
    shot(page, "12-account-scrolled")

    page.select_option("#direction", "out")
    submit(page, "#filter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("lunch")
    shot(page, "13-account-filter-out")
    page.select_option("#direction", "")
    page.select_option("#type", "deposit")
    submit(page, "#filter")
    expect(rows).to_have_count(20)
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    expect(rows).to_have_count(40)
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    expect(rows).to_have_count(45)
    assert "lunch" not in page.locator("#history").inner_text()


def pay(page: Page, server: LiveServer, cust: Customer, amount: str, arrival: str, lang: str, prefix: str) -> None:
    """From the filled-in transfer form: quote, SMS code, confirm; ends on the receipt."""
    page.fill("#amount", amount)
    page.check(f"#arrival-{arrival}")
    page.fill("#memo", "rent" if arrival == "real_time" else "later")
    shot(page, f"{prefix}-transfer-form")
    submit(page, "#quote")
    expect(page.locator("#q-fee .free")).to_be_visible()  # the quote says plainly: free, on mobile
    expect(page.locator("#fee-free")).to_contain_text("手机" if lang == "zh_CN" else "free on mobile")
    expect(page.locator("#q-total")).to_contain_text(amount)
    expect(page.locator("#q-amount")).to_contain_text(amount)
    assert_lang(page, lang)
    shot(page, f"{prefix}-transfer-quote")
    sent = server.sms_count(cust.e164)
    submit(page, "#send-sms")
    assert server.sms_count(cust.e164) == sent + 1
    expect(page.locator("#confirm")).to_be_visible()
    page.fill("#code", server.sms_code(cust.e164))
    shot(page, f"{prefix}-transfer-confirm")
    submit(page, "#confirm")
    expect(page).to_have_url(re.compile(r"/transfers/tr_"))
    expect(page.locator("#r-amount")).to_contain_text(amount)


@pytest.mark.parametrize(
    ("lang", "live_server"),
    [("zh_CN", "sqlite"), ("en", "sqlite"), pytest.param("en", "postgres", marks=pytest.mark.postgres)],
    indirect=["live_server"],
)
def test_payee_and_transfer_with_sms_step_up(page: Page, live_server: LiveServer, seed: Seeder, lang: str) -> None:
    cust = seed.customer(deposit=1_000_00)
    friend = seed.customer(name="Zhang Wei")
    login(page, live_server, cust)

    page.goto(live_server.url + "/transfer")
    expect(page.locator("#quote")).to_have_count(0)  # no payee yet: the page says to add one
    page.goto(live_server.url + "/payees")
    page.fill("#name", "Zhang Wei")
    page.fill("#account_id", friend.account_id)
    submit(page, "#add-payee")
    expect(page.locator("#payees li")).to_have_count(1)
    expect(page.locator("#payees")).to_contain_text(friend.account_id)
    assert_lang(page, lang)
    shot(page, "14-payees")
    submit(page, "#payees a.button")  # "Pay" this payee
    expect(page.locator("#payee_id option:checked")).to_contain_text("Zhang Wei")
    assert_lang(page, lang)
    pay(page, live_server, cust, "12.50", "real_time", lang, "15")
    expect(page.locator("#status")).to_have_class(re.compile("status-posted"))
    expect(page.locator("#r-fee")).not_to_contain_text("0.01")
    shot(page, "16-receipt")
    assert seed.balance(cust.account_id) == 1_000_00 - 12_50
    assert seed.balance(friend.account_id) == 12_50

    page.goto(live_server.url + "/home")
    expect(page.locator("#available-1")).to_contain_text("987.50")


@BY_LANG
def test_cancel_a_delayed_transfer(page: Page, live_server: LiveServer, seed: Seeder, lang: str) -> None:
    cust = seed.customer(deposit=500_00)
    friend = seed.customer(name="Zhang Wei")
    payee = seed.payee(cust, friend)
    login(page, live_server, cust)
    page.goto(live_server.url + f"/transfer?payee={payee}")
    pay(page, live_server, cust, "20.00", "delayed", lang, "17")
    expect(page.locator("#status")).to_have_class(re.compile("status-scheduled"))
    expect(page.locator("#cancel")).to_be_visible()
    shot(page, "18-receipt-scheduled")
    assert seed.balance(friend.account_id) == 0
    submit(page, "#cancel")
    expect(page.locator("#status")).to_have_class(re.compile("status-cancelled"))
    expect(page.locator("#cancel")).to_have_count(0)
    shot(page, "19-receipt-cancelled")
    page.goto(live_server.url + "/home")
    expect(page.locator("#available-1")).to_contain_text("500.00")
    assert seed.balance(friend.account_id) == 0


@BY_LANG
def test_remove_a_payee(page: Page, live_server: LiveServer, seed: Seeder, lang: str) -> None:
    cust = seed.customer()
    friend = seed.customer(name="Zhang Wei")
    seed.payee(cust, friend)
    login(page, live_server, cust)
    page.goto(live_server.url + "/payees")
    page.fill("#account_id", "acct_nonsense")
    page.fill("#name", "Nobody")
    submit(page, "#add-payee")
    expect(page.locator("#account_id-error")).to_be_visible()
    shot(page, "20-payees-error")
    expect(page.locator("#payees li")).to_have_count(1)
    submit(page, "#payees button.danger")
    expect(page.locator("#payees")).to_have_count(0)
    assert live_server.container.payees.list(cust.principal) == []


@BY_LANG
def test_devices_password_and_logout_everywhere(
    page: Page, new_context: object, live_server: LiveServer, seed: Seeder, lang: str
) -> None:
    cust = seed.customer()
    login(page, live_server, cust, new_device=True)
    other_ctx = new_context(locale=LOCALES[lang])  # type: ignore[operator]
    other_page = other_ctx.new_page()
    login(other_page, live_server, cust, new_device=True)  # a second browser: another device

    page.goto(live_server.url + "/security")
    devices = page.locator("#devices li")
    expect(devices).to_have_count(3)  # the sign-up phone and two browsers
    assert_lang(page, lang)
    shot(page, "21-security")
    seed_row = devices.filter(has_text="seed phone")
    submit(page, "#devices li:has-text('seed phone') button")
    expect(seed_row.locator("button")).to_have_count(0)  # revoked: no button any more
    shot(page, "22-security-device-revoked")

    page.fill("#old_password", "not my password")
    page.fill("#new_password", "a brand new passphrase 7")
    submit(page, "#change-password")
    expect(page.locator("#old_password-error")).to_be_visible()
    page.fill("#old_password", cust.password)
    page.fill("#new_password", "a brand new passphrase 7")
    submit(page, "#change-password")
    expect(page.locator(".notice")).to_be_visible()
    shot(page, "23-security-password-changed")
    other_page.goto(live_server.url + "/home")  # the other browser was logged out by the password change
    expect(other_page).to_have_url(re.compile(r"/login"))

    cust.password = "a brand new passphrase 7"
    login(other_page, live_server, cust, new_device=False)
    page.goto(live_server.url + "/security")
    submit(page, "#logout-all")
    expect(page).to_have_url(re.compile(r"/login"))
    other_page.goto(live_server.url + "/home")
    expect(other_page).to_have_url(re.compile(r"/login"))
    page.goto(live_server.url + "/home")
    expect(page).to_have_url(re.compile(r"/login"))


@BY_LANG
def test_limits_page(page: Page, live_server: LiveServer, seed: Seeder, lang: str) -> None:
    cust = seed.customer()
    login(page, live_server, cust)
    page.goto(live_server.url + "/limits")
    expect(page.locator("#class-limits-CNY dd").first).to_contain_text("10,000.00")  # class II: 10,000 a day
    policy = live_server.container.transfers.limits
    rows = sum(len(policy.auth[m]) for m in (AuthMethod.PASSWORD, AuthMethod.PIN, AuthMethod.SMS, AuthMethod.TOTP))
    expect(page.locator("#method-limits-CNY tbody tr")).to_have_count(rows)
    assert_lang(page, lang)
    shot(page, "24-limits")
