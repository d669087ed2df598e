"""Quality on every page at 360 px wide (a small Android phone), in Chinese and in English: no horizontal scrolling,
touch targets of at least 44×44 px for the buttons and links of the main content and the tab bar (links inside a
sentence are exempt, as in WCAG 2.5.8), a label for every input, and a visible keyboard focus on inputs."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from web_helpers import LANGS, NARROW_VIEWPORT, LiveServer, Seeder, focus_problem, quality_problems, submit

from pocketbank.domain.principals import StaffRole


@pytest.mark.parametrize("lang", LANGS)
def test_every_page_fits_a_360px_phone(page: Page, live_server: LiveServer, seed: Seeder, lang: str) -> None:
    page.set_viewport_size(NARROW_VIEWPORT)
    url = live_server.url
    cust = seed.customer(name="欧阳娜娜娜娜" if lang == "zh_CN" else "Bartholomew Featherstonehaugh", deposit=100_00)
    friend = seed.customer()
    for _ in range(25):
        seed.deposit(cust.account_id, 1_00)
    payee = seed.payee(cust, friend, name="A payee with a rather long name for a phone")
    transfer = seed.transfer(cust, payee, 1_00, memo="a memo that is long enough to wrap on a small phone")
    teller, password, _ = seed.staff("teller9", StaffRole.SUPERVISOR)
    problems: dict[str, list[str]] = {}

    def check(name: str, *, focus: bool = True) -> None:
        found = quality_problems(page)
        if focus:
            p = focus_problem(page)
            if p:
                found.append(p)
        if found:
            problems[name] = found

    for path in ("/", "/register", "/login", "/offline", "/no-such-page"):
        page.goto(url + path)
        check(path, focus=path in ("/register", "/login"))
    page.goto(url + "/register")
    page.fill("#phone", "13712345678")
    submit(page, "#send-code")
    check("POST /register")
    page.goto(url + "/login")
    page.fill("#phone", cust.phone)
    page.fill("#password", cust.password)
    submit(page, "#login")
    check("POST /login (new device)")
    page.fill("#code", live_server.sms_code(cust.e164))
    submit(page, "#confirm-device")
    expect(page).to_have_url(url + "/home")

    for path in ("/home", f"/accounts/{cust.account_id}", "/transfer", "/payees", "/security", "/limits"):
        page.goto(url + path)
        check(path, focus=path not in ("/home", "/limits"))  # no input on these two
    page.goto(url + f"/transfers/{transfer}")
    check("receipt", focus=False)
    page.goto(url + f"/transfer?payee={payee}")
    page.fill("#amount", "1.00")
    submit(page, "#quote")
    check("quote", focus=False)
    submit(page, "#send-sms")
    check("confirm")
    page.goto(url + "/security")
    submit(page, "#totp-start")
    check("totp")
    submit(page, "#logout")

    page.goto(url + "/staff/login")
    check("/staff/login")
    page.fill("#username", teller)
    page.fill("#password", password)
    submit(page, "#staff-login")
    check("/staff")
    page.fill("#phone", cust.phone)
    submit(page, "#lookup")
    check("staff customer")
    page.fill("#tr_to_account", friend.account_id)
    page.fill("#tr_amount", "1.00")
    submit(page, "#counter-transfer")
    check("staff transfer")

    assert not problems, "\n".join(f"{page_}: {p}" for page_, ps in problems.items() for p in ps)
