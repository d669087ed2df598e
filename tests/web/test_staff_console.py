"""The staff console in Chromium, in Chinese and in English: teller login, customer look-up, class upgrade, a cash
deposit, a counter transfer with its fee shown as the teller types, and its reversal by a supervisor (a teller is not
offered the button)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from web_helpers import LANGS, LiveServer, Seeder, assert_lang, shot, staff_login, submit

from pocketbank.domain.principals import StaffRole


@pytest.mark.parametrize("lang", LANGS)
def test_counter_lookup_upgrade_transfer_and_supervisor_reversal(
    page: Page, live_server: LiveServer, seed: Seeder, lang: str
) -> None:
    cust = seed.customer(deposit=300_00)
    friend = seed.customer(name="Li Lei")
    teller, password, _ = seed.staff("teller1", StaffRole.TELLER)
    supervisor, _, _ = seed.staff("super1", StaffRole.SUPERVISOR)

    page.goto(live_server.url + "/staff/login")
    assert_lang(page, lang)
    shot(page, "40-staff-login")
    staff_login(page, live_server, teller, password)
    assert_lang(page, lang)
    shot(page, "41-staff-console")
    page.fill("#phone", "13000000000")
    submit(page, "#lookup")
    expect(page.locator("#phone-error")).to_be_visible()  # nobody with that number
    page.fill("#phone", cust.phone)
    submit(page, "#lookup")
    expect(page).to_have_url(re.compile(r"/staff/customers/cus_"))
    expect(page.locator("h1")).to_have_text(cust.name)
    expect(page.locator("#account-class")).to_have_text("II")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN" if lang == "zh_CN" else "en")
    shot(page, "42-staff-customer")

    page.select_option("#account_class", "1")
    submit(page, "#upgrade")
    expect(page.locator("#account-class")).to_have_text("I")
    expect(page.locator(".notice")).to_be_visible()
    shot(page, "43-staff-upgraded")

    page.fill("#dep_amount", "10.00")
    submit(page, "#deposit")
    expect(page.locator("#deposit-done")).to_contain_text("10.00")
    assert seed.balance(cust.account_id) == 310_00
    shot(page, "43b-staff-deposited")

    page.fill("#tr_to_account", friend.account_id)
    page.locator("#tr_amount").press_sequentially("50.00", delay=20)
    fee = page.locator("#counter-fee")
    expect(fee).to_contain_text("免费" if lang == "zh_CN" else "free")  # same-bank transfers are free everywhere
    shot(page, "44-staff-counter-transfer")
    submit(page, "#counter-transfer")
    expect(page).to_have_url(re.compile(r"/staff/transfers/tr_"))
    expect(page.locator("#status")).to_have_class(re.compile("status-posted"))
    expect(page.locator("#counter-fee-charged")).to_be_visible()
    expect(page.locator("#reverse")).to_have_count(0)  # a teller cannot reverse
    shot(page, "45-staff-transfer-teller")
    transfer_url = page.url
    assert seed.balance(cust.account_id) == 260_00
    assert seed.balance(friend.account_id) == 50_00

    submit(page, "#logout")
    expect(page).to_have_url(re.compile(r"/staff/login"))
    staff_login(page, live_server, supervisor, password)
    page.goto(transfer_url)
    page.fill("#reverse_reason", "customer's mistake, checked in person")
    shot(page, "46-staff-transfer-supervisor")
    submit(page, "#reverse")
    expect(page.locator("#status")).to_have_class(re.compile("status-reversed"))
    expect(page.locator("#reverse")).to_have_count(0)
    shot(page, "47-staff-reversed")
    assert seed.balance(cust.account_id) == 310_00
    assert seed.balance(friend.account_id) == 0
