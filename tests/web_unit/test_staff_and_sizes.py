"""The staff console (deposit, counter transfer with its fee, reversal by role) and the page weight budget."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from web_unit_helpers import csrf, register, staff_login

from pocketbank.bootstrap import Container
from pocketbank.domain.ids import IdKind, parse_id
from pocketbank.domain.principals import StaffRole


def _balance(container: Container, account_id: str) -> int:
    found = container.accounts.find(parse_id(IdKind.ACCOUNT, account_id))
    assert found is not None
    return container.accounts.view(found).balance


def test_staff_deposit_counter_transfer_and_reversal_by_role(
    new_client: Callable[[], TestClient], container: Container
) -> None:
    payer = register(new_client(), container, "Li Lei")
    payee = register(new_client(), container, "Han Meimei")
    teller = new_client()
    staff_login(teller, container, "teller1", StaffRole.TELLER)
    token = csrf(teller, "/staff")
    r = teller.post("/staff/lookup", data={"csrf_token": token, "phone": payer.phone})
    assert r.url.path == f"/staff/customers/{payer.customer_id}" and 'id="deposit"' in r.text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', r.text)
    assert key
    deposit = {"csrf_token": token, "idempotency_key": key.group(1), "account_id": payer.account_id, "amount": "500"}
    r = teller.post(f"/staff/customers/{payer.customer_id}/deposit", data=deposit)
    assert r.status_code == 200 and 'id="deposit-done"' in r.text
    teller.post(f"/staff/customers/{payer.customer_id}/deposit", data=deposit)  # a double submit
    assert _balance(container, payer.account_id) == 50_000
    r = teller.get("/staff/fee?amount=100", headers={"HX-Request": "true"})
    assert "Counter fee" in r.text and "<html" not in r.text
    page = teller.get(f"/staff/customers/{payer.customer_id}").text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page)
    assert key
    transfer = {
        "csrf_token": token, "idempotency_key": key.group(1), "from_account": payer.account_id,
        "to_account": payee.account_id, "amount": "120.00", "memo": "at the branch",
    }  # fmt: skip
    r = teller.post(f"/staff/customers/{payer.customer_id}/transfer", data=transfer)
    assert r.url.path.startswith("/staff/transfers/tr_") and 'id="counter-fee-charged"' in r.text, r.text
    assert 'id="reverse"' not in r.text  # tellers are not shown the button
    transfer_page = r.url.path
    assert _balance(container, payee.account_id) == 12_000
    r = teller.post(transfer_page + "/reverse", data={"csrf_token": token, "reason": "customer asked"})
    assert r.status_code == 403 and 'data-code="forbidden"' in r.text
    assert _balance(container, payee.account_id) == 12_000
    supervisor = new_client()
    staff_login(supervisor, container, "super1", StaffRole.SUPERVISOR)
    r = supervisor.get(transfer_page)
    assert 'id="reverse"' in r.text
    token = csrf(supervisor, transfer_page)
    r = supervisor.post(transfer_page + "/reverse", data={"csrf_token": token, "reason": "wrong payee entered"})
    assert r.status_code == 200 and "Reversed" in r.text
    assert _balance(container, payee.account_id) == 0


def test_staff_and_customer_sessions_are_separate(new_client: Callable[[], TestClient], container: Container) -> None:
    browser = new_client()
    register(browser, container)
    assert browser.get("/staff").url.path == "/staff/login"
    staff_login(browser, container, "teller2", StaffRole.TELLER)
    assert browser.get("/home").url.path == "/home"


def _asset_sizes(client: TestClient, html: str) -> int:
    total = 0
    for url in re.findall(r'<(?:script|link)[^>]+(?:src|href)="(/static/[^"]+\.(?:js|css))"', html):
        r = client.get(url)
        assert r.status_code == 200, url
        total += len(r.content)
    return total


def test_every_page_is_under_100_kb(client: TestClient, container: Container) -> None:
    pages = ["/", "/login", "/register", "/offline", "/staff/login"]
    for path in pages:
        html = client.get(path).text
        assert len(html.encode()) + _asset_sizes(client, html) < 100_000, path
    customer = register(client, container)
    for path in ["/home", f"/accounts/{customer.account_id}", "/transfer", "/payees", "/security", "/limits"]:
        r = client.get(path)
        assert r.status_code == 200, path
        assert len(r.content) + _asset_sizes(client, r.text) < 100_000, path


def test_pwa_files(client: TestClient) -> None:
    r = client.get("/manifest.webmanifest")
    assert (
        r.status_code == 200
        and r.json()["start_url"] == "/"
        and r.headers["content-type"].startswith("application/manifest+json")
    )
    r = client.get("/sw.js")
    assert r.status_code == 200 and "/offline" in r.text and "javascript" in r.headers["content-type"]
    for icon in ["/static/icon.svg", "/static/icon-192.png", "/static/icon-512.png"]:
        assert client.get(icon).status_code == 200
    r = client.get("/static/vendor/htmx.min.js")
    assert r.status_code == 200 and len(r.content) > 40_000
