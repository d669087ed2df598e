"""``/v1/accounts``: list, open in each currency, get, close; ownership and id checks."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from money_helpers import (
    account,
    add_payee,
    deposit,
    ledger_ok,
    open_account,
    problem,
    relax_rate_limits,
    transfer,
)

from pocketbank.bootstrap import Container

FOREIGN = ["USD", "EUR", "HKD", "GBP", "JPY"]


def test_default_cny_account_exists_after_signup(client: TestClient, signup) -> None:
    a = signup()
    r = client.get("/v1/accounts", headers=a.headers)
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["object"] == "list" and page["has_more"] is False
    assert [x["id"] for x in page["data"]] == [a.account_id]
    acct = page["data"][0]
    assert acct["object"] == "account"
    assert acct["currency"] == "CNY" and acct["status"] == "open" and acct["is_default"] is True
    assert acct["balance"] == acct["available"] == acct["pending_in"] == 0


def test_open_each_foreign_currency(client: TestClient, signup) -> None:
    a = signup()
    opened = {}
    for cur in FOREIGN:
        r = client.post("/v1/accounts", json={"currency": cur}, headers=a.headers)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["currency"] == cur and body["status"] == "open" and body["is_default"] is False
        assert body["balance"] == 0 and body["id"].startswith("acct_")
        opened[cur] = body["id"]
    listed = {x["currency"]: x["id"] for x in client.get("/v1/accounts", headers=a.headers).json()["data"]}
    assert listed == {"CNY": a.account_id, **opened}
    for cur, acct_id in opened.items():
        assert account(client, a, acct_id)["currency"] == cur


def test_currency_code_is_case_insensitive(client: TestClient, signup) -> None:
    a = signup()
    r = client.post("/v1/accounts", json={"currency": "usd"}, headers=a.headers)
    assert r.status_code == 201, r.text
    assert r.json()["currency"] == "USD"


@pytest.mark.parametrize("currency", ["USD", "CNY"])
def test_second_open_account_in_same_currency_is_conflict(client: TestClient, signup, currency: str) -> None:
    a = signup()
    if currency != "CNY":
        open_account(client, a, currency)
    r = client.post("/v1/accounts", json={"currency": currency}, headers=a.headers)
    problem(r, 409, "conflict", "currency")
    assert len(client.get("/v1/accounts", headers=a.headers).json()["data"]) == (2 if currency != "CNY" else 1)


def test_racing_requests_open_one_account_per_currency(client: TestClient, container: Container, signup) -> None:
    """The check before the insert cannot see a request that has checked but not yet inserted: the second insert
    is stopped by the database, answered 409, and leaves no audit record or event behind."""
    a = signup()
    accounts = container.accounts.store
    with pytest.MonkeyPatch.context() as mp:  # both requests checked before either inserted
        mp.setattr(accounts, "list_for_customer", lambda customer_id: [])
        assert client.post("/v1/accounts", json={"currency": "USD"}, headers=a.headers).status_code == 201
        problem(client.post("/v1/accounts", json={"currency": "USD"}, headers=a.headers), 409, "conflict", "currency")
    usd = [x for x in client.get("/v1/accounts", headers=a.headers).json()["data"] if x["currency"] == "USD"]
    assert len(usd) == 1
    assert [e.record.action for e in container.audit.entries()].count("account.opened") == 1
    assert [e.type for e in container.outbox.undispatched()].count("account.opened") == 1
    with ThreadPoolExecutor(max_workers=8) as pool:  # and for real: eight at once, one wins
        statuses = list(
            pool.map(lambda _: client.post("/v1/accounts", json={"currency": "EUR"}, headers=a.headers).status_code,
                     range(8))
        )  # fmt: skip
    assert sorted(statuses) == [201] + [409] * 7
    eur = [x for x in client.get("/v1/accounts", headers=a.headers).json()["data"] if x["currency"] == "EUR"]
    assert len(eur) == 1


@pytest.mark.parametrize("currency", ["XYZ", "BTC", "AUD"])
def test_unsupported_currency(client: TestClient, signup, currency: str) -> None:
    a = signup()
    r = client.post("/v1/accounts", json={"currency": currency}, headers=a.headers)
    problem(r, 400, "unsupported_currency", "currency")


def test_malformed_currency_and_unknown_field(client: TestClient, signup) -> None:
    a = signup()
    problem(client.post("/v1/accounts", json={"currency": "US"}, headers=a.headers), 400, "invalid_request", "currency")
    problem(client.post("/v1/accounts", json={}, headers=a.headers), 400, "invalid_request", "currency")
    r = client.post("/v1/accounts", json={"currency": "USD", "overdraft": True}, headers=a.headers)
    problem(r, 400, "unknown_field", "overdraft")
    assert len(client.get("/v1/accounts", headers=a.headers).json()["data"]) == 1


def test_accounts_need_authentication(client: TestClient) -> None:
    problem(client.get("/v1/accounts"), 401, "unauthenticated")
    problem(client.post("/v1/accounts", json={"currency": "USD"}), 401, "unauthenticated")
    problem(client.get("/v1/accounts", headers={"Authorization": "Bearer nope"}), 401, "unauthenticated")


def test_someone_elses_account_is_not_found(client: TestClient, signup) -> None:
    a, b = signup(), signup()
    usd_b = open_account(client, b, "USD")
    for acct_id in (b.account_id, usd_b):
        problem(client.get(f"/v1/accounts/{acct_id}", headers=a.headers), 404, "not_found", "account_id")
        problem(client.post(f"/v1/accounts/{acct_id}/close", headers=a.headers), 404, "not_found", "account_id")
    # B's account is untouched
    assert account(client, b, usd_b)["status"] == "open"
    # an unknown but well-formed id reads the same as a foreign one
    unknown = "acct_" + "1" * 26
    problem(client.get(f"/v1/accounts/{unknown}", headers=a.headers), 404, "not_found", "account_id")


@pytest.mark.parametrize(
    "bad",
    ["nope", "acct_123", "tr_" + "1" * 26, "acct_" + "I" * 26, "acct_" + "0" * 26, "acct_" + "Z" * 26 + "Z"],
)
def test_malformed_account_id(client: TestClient, signup, bad: str) -> None:
    a = signup()
    problem(client.get(f"/v1/accounts/{bad}", headers=a.headers), 400, "invalid_id", "account_id")
    problem(client.post(f"/v1/accounts/{bad}/close", headers=a.headers), 400, "invalid_id", "account_id")
    problem(client.get(f"/v1/accounts/{bad}/transactions", headers=a.headers), 400, "invalid_id", "account_id")


def test_close_empty_foreign_account_then_transfers_to_it_are_refused(
    client: TestClient, container: Container, signup, teller
) -> None:
    relax_rate_limits(container)
    a, b = signup(), signup()
    usd_a, usd_b = open_account(client, a, "USD"), open_account(client, b, "USD")
    deposit(client, teller, usd_a, 50_000)
    payee = add_payee(client, a, usd_b, "Bob USD")

    r = client.post(f"/v1/accounts/{usd_b}/close", headers=b.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed" and r.json()["id"] == usd_b
    assert account(client, b, usd_b)["status"] == "closed"
    # closing again is a no-op that answers the closed account
    r = client.post(f"/v1/accounts/{usd_b}/close", headers=b.headers)
    assert r.status_code == 200 and r.json()["status"] == "closed"

    r = transfer(client, container, a, 1_000, payee_id=payee, from_account=usd_a, currency="USD")
    problem(r, 409, "account_closed", "to_account")
    assert account(client, a, usd_a)["balance"] == 50_000
    assert account(client, b, usd_b)["balance"] == 0
    # cash cannot be paid into it either
    r = client.post(
        "/v1/staff/deposits", json={"account_id": usd_b, "amount": 100}, headers={**teller, "Idempotency-Key": "c1"}
    )
    assert r.status_code == 409, r.text
    assert account(client, b, usd_b)["balance"] == 0

    # the currency can be opened again: a new account with a new id
    again = open_account(client, b, "USD")
    assert again != usd_b
    statuses = {x["id"]: x["status"] for x in client.get("/v1/accounts", headers=b.headers).json()["data"]}
    assert statuses[usd_b] == "closed" and statuses[again] == "open"
    ledger_ok(container)
    assert container.audit.verify() == []


def test_closing_a_non_empty_account_is_refused(client: TestClient, container: Container, signup, teller) -> None:
    a = signup()
    eur = open_account(client, a, "EUR")
    deposit(client, teller, eur, 1)
    problem(client.post(f"/v1/accounts/{eur}/close", headers=a.headers), 409, "account_not_empty", "account_id")
    got = account(client, a, eur)
    assert got["status"] == "open" and got["balance"] == 1
    ledger_ok(container)


def test_default_cny_account_cannot_be_closed(client: TestClient, signup) -> None:
    a = signup()
    problem(client.post(f"/v1/accounts/{a.account_id}/close", headers=a.headers), 409, "conflict", "account_id")
    assert account(client, a)["status"] == "open"


def test_closing_a_non_empty_account_is_409(client: TestClient, signup, teller) -> None:
    a = signup()
    eur = open_account(client, a, "EUR")
    deposit(client, teller, eur, 1)
    problem(client.post(f"/v1/accounts/{eur}/close", headers=a.headers), 409, "account_not_empty", "account_id")
