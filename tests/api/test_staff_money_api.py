"""The counter's money operations: ``/v1/staff/deposits``, ``/v1/staff/transfers`` and reversals by a supervisor."""

from __future__ import annotations

import pytest
from auth_helpers import SignedUp, staff_headers
from fastapi.testclient import TestClient
from money_helpers import (
    account,
    add_payee,
    balance,
    deposit,
    ledger_ok,
    new_key,
    problem,
    relax_rate_limits,
    statement,
    transfer,
    yuan,
)

from pocketbank.bootstrap import Container
from pocketbank.domain.accounts import FEE_SUBACCOUNTS, AccountCode, bank_account_id

CNY_LEDGER = 156


def _fee_income(container: Container) -> int:
    ids = [bank_account_id(CNY_LEDGER, AccountCode.FEE_INCOME, sub) for sub in range(FEE_SUBACCOUNTS)]
    return sum(a.credits_posted - a.debits_posted for a in container.ledger.lookup_accounts(ids))


def _counter(
    client: TestClient, staff: dict[str, str], cust: SignedUp, to_account: str, amount: int, key: str | None = None,
    **extra: object,
) -> object:  # fmt: skip
    body = {"customer_id": cust.id, "from_account": cust.account_id, "to_account": to_account, "amount": amount,
            "currency": "CNY", **extra}  # fmt: skip
    return client.post("/v1/staff/transfers", json=body, headers={**staff, "Idempotency-Key": key or new_key("ctr")})


# -- cash deposits ----------------------------------------------------------------------------------------------


def test_cash_deposit_is_idempotent(client: TestClient, container: Container, signup, teller) -> None:
    a = signup()
    h = {**teller, "Idempotency-Key": "slip-1"}
    r = client.post("/v1/staff/deposits", json={"account_id": a.account_id, "amount": 5_000}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["balance"] == 5_000 and r.json()["id"] == a.account_id
    for _ in range(2):
        again = client.post("/v1/staff/deposits", json={"account_id": a.account_id, "amount": 5_000}, headers=h)
        assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
        assert again.json() == r.json()
    assert balance(client, a) == 5_000
    assert len(statement(client, a).json()["data"]) == 1
    r = client.post("/v1/staff/deposits", json={"account_id": a.account_id, "amount": 6_000}, headers=h)
    problem(r, 422, "idempotency_key_reused")
    r = client.post("/v1/staff/deposits", json={"account_id": a.account_id, "amount": 6_000}, headers=teller)
    problem(r, 400, "idempotency_key_required")
    assert balance(client, a) == 5_000
    ledger_ok(container)
    assert container.audit.verify() == []


def test_a_deposit_whose_answer_was_lost_is_audited_once(
    client: TestClient, container: Container, signup, teller, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server dies as it answers a deposit the ledger has applied: the teller's retry with the same key
    neither deposits again nor audits the deposit twice, and answers with the balance after the one deposit."""
    from pocketbank.api.routes import staff_money

    a = signup()
    h = {**teller, "Idempotency-Key": "slip-lost"}
    answer = staff_money.account_out
    calls = []

    def dies_once(view: object) -> object:
        calls.append(view)
        if len(calls) == 1:
            raise RuntimeError("the server died answering")
        return answer(view)  # type: ignore[arg-type]

    monkeypatch.setattr(staff_money, "account_out", dies_once)
    r = client.post("/v1/staff/deposits", json={"account_id": a.account_id, "amount": 5_000}, headers=h)
    assert r.status_code == 500
    again = client.post("/v1/staff/deposits", json={"account_id": a.account_id, "amount": 5_000}, headers=h)
    assert again.status_code == 200, again.text
    assert again.json()["balance"] == 5_000
    assert balance(client, a) == 5_000
    audited = [e for e in container.audit.entries() if e.record.action == "account.cash_deposited"]
    assert [e.record.subject for e in audited] == [a.account_id]
    replay = client.post("/v1/staff/deposits", json={"account_id": a.account_id, "amount": 5_000}, headers=h)
    assert replay.headers["idempotent-replayed"] == "true" and replay.json() == again.json()
    assert container.audit.verify() == []


def test_deposits_by_two_tellers_with_the_same_key_are_two_deposits(
    client: TestClient, container: Container, signup, teller
) -> None:
    a = signup()
    other = staff_headers(client, container, username="teller2")
    for staff in (teller, other):
        r = client.post("/v1/staff/deposits", json={"account_id": a.account_id, "amount": 100},
                        headers={**staff, "Idempotency-Key": "slip-7"})  # fmt: skip
        assert r.status_code == 200 and "idempotent-replayed" not in r.headers
    assert balance(client, a) == 200


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"account_id": "acct_" + "1" * 26, "amount": 100}, 404, "not_found"),
        ({"account_id": "acct_bad", "amount": 100}, 400, "invalid_id"),
        ({"account_id": None, "amount": 0}, 400, "invalid_request"),
        ({"account_id": None, "amount": -5}, 400, "invalid_request"),
        ({"account_id": None, "amount": 2**63}, 400, "invalid_request"),
        ({"account_id": None, "amount": 1, "note": "x"}, 400, "unknown_field"),
    ],
)
def test_bad_deposits(client: TestClient, signup, teller, body: dict, status: int, code: str) -> None:
    a = signup()
    body = {**body, "account_id": body["account_id"] or a.account_id}
    r = client.post("/v1/staff/deposits", json=body, headers={**teller, "Idempotency-Key": new_key()})
    problem(r, status, code)
    assert balance(client, a) == 0


# -- counter transfers ------------------------------------------------------------------------------------------


def test_counter_transfer(client: TestClient, container: Container, signup, teller) -> None:
    a, b = signup(), signup()
    deposit(client, teller, a.account_id, yuan(3_000))
    fees_before = _fee_income(container)
    r = _counter(client, teller, a, b.account_id, yuan(2_000), key="ctr-1", memo="at branch 12")
    assert r.status_code == 201, r.text
    t = r.json()
    assert (t["channel"], t["auth_method"], t["status"]) == ("counter", "staff", "posted")
    assert (t["from_account"], t["to_account"], t["payee_id"]) == (a.account_id, b.account_id, None)
    # data/pricing.toml: intra-bank transfers are free at the counter too (rate 0) -> no fee leg
    assert t["fee"] == 0
    assert _fee_income(container) == fees_before
    assert (balance(client, a), balance(client, b)) == (yuan(1_000), yuan(2_000))
    out = statement(client, a).json()["data"][0]
    assert out["channel"] == "counter" and out["fee"] == 0 and out["transfer"] == t["id"]
    assert out["balance_after"] == yuan(1_000)
    # the customer sees it as their transfer
    assert client.get(f"/v1/transfers/{t['id']}", headers=a.headers).json() == t
    # replay
    again = _counter(client, teller, a, b.account_id, yuan(2_000), key="ctr-1", memo="at branch 12")
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true" and again.json() == t
    assert balance(client, b) == yuan(2_000)
    problem(_counter(client, teller, a, b.account_id, 1, key="ctr-1"), 422, "idempotency_key_reused")
    ledger_ok(container)
    assert container.audit.verify() == []


def test_counter_transfer_has_no_step_up_or_cooling_off_but_class_limits_apply(
    client: TestClient, container: Container, signup, teller
) -> None:
    a, b = signup(), signup()
    deposit(client, teller, a.account_id, yuan(20_000))
    # no payee, no step-up, a brand-new device and payee: the counter is not capped at 5,000 ...
    assert _counter(client, teller, a, b.account_id, yuan(6_000)).status_code == 201
    # ... but the class II account's 10,000.00 a day to other people still is
    problem(_counter(client, teller, a, b.account_id, yuan(4_000) + 1), 402, "limit_exceeded")
    assert _counter(client, teller, a, b.account_id, yuan(4_000)).status_code == 201
    assert (balance(client, a), balance(client, b)) == (yuan(10_000), yuan(10_000))
    ledger_ok(container)


def test_counter_transfer_refusals(client: TestClient, container: Container, signup, teller) -> None:
    a, b = signup(), signup()
    deposit(client, teller, a.account_id, 1_000)
    problem(_counter(client, teller, a, b.account_id, 1_001), 402, "insufficient_funds")
    # the customer named must own the source account
    body = {"customer_id": b.id, "from_account": a.account_id, "to_account": b.account_id, "amount": 100,
            "currency": "CNY"}  # fmt: skip
    r = client.post("/v1/staff/transfers", json=body, headers={**teller, "Idempotency-Key": new_key()})
    problem(r, 404, "not_found")
    problem(_counter(client, teller, a, b.account_id, 100, currency="USD"), 400, "currency_mismatch")
    problem(_counter(client, teller, a, "acct_" + "1" * 26, 100), 404, "not_found", "to_account")
    problem(_counter(client, teller, a, a.account_id, 100), 400, "same_account")
    r = client.post("/v1/staff/transfers", json={**body, "customer_id": a.id}, headers=teller)
    problem(r, 400, "idempotency_key_required")
    assert (balance(client, a), balance(client, b)) == (1_000, 0)
    ledger_ok(container)


def test_counter_transfer_key_does_not_collide_with_the_customers_own_keys(
    client: TestClient, container: Container, signup, teller
) -> None:
    relax_rate_limits(container)
    a, b, c = signup(), signup(), signup()
    deposit(client, teller, a.account_id, yuan(1_000))
    mobile = transfer(client, container, a, 100, payee_id=add_payee(client, a, b.account_id), key="1")
    assert mobile.status_code == 201, mobile.text
    r = _counter(client, teller, a, c.account_id, 5_000, key="1")
    assert r.status_code == 201, r.text
    assert r.json()["id"] != mobile.json()["id"]
    assert (r.json()["amount"], r.json()["to_account"]) == (5_000, c.account_id)
    assert balance(client, c) == 5_000


# -- reversals --------------------------------------------------------------------------------------------------


def test_teller_cannot_reverse(client: TestClient, posted, teller) -> None:
    a, b, t = posted
    r = client.post(f"/v1/staff/transfers/{t['id']}/reverse", json={"reason": "customer complaint"}, headers=teller)
    problem(r, 403, "forbidden")
    assert (balance(client, a), balance(client, b)) == (yuan(700), yuan(300))


def test_supervisor_reverses_a_posted_transfer(client: TestClient, container: Container, posted, supervisor) -> None:
    a, b, t = posted
    problem(client.post(f"/v1/staff/transfers/{t['id']}/reverse", json={"reason": "no"}, headers=supervisor),
            400, "invalid_request", "reason")  # fmt: skip
    problem(client.post(f"/v1/staff/transfers/{t['id']}/reverse", json={}, headers=supervisor), 400,
            "invalid_request", "reason")  # fmt: skip
    r = client.post(f"/v1/staff/transfers/{t['id']}/reverse", json={"reason": "fraud report #7"}, headers=supervisor)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "reversed" and r.json()["reason"] == "fraud report #7" and r.json()["id"] == t["id"]
    assert (balance(client, a), balance(client, b)) == (yuan(1_000), 0)
    assert client.get(f"/v1/transfers/{t['id']}", headers=a.headers).json()["status"] == "reversed"
    back = statement(client, a, type="reversal").json()["data"]
    assert len(back) == 1 and back[0]["direction"] == "in" and back[0]["amount"] == yuan(300)
    assert back[0]["balance_after"] == yuan(1_000)
    gone = statement(client, b).json()["data"]
    assert [(e["type"], e["direction"], e["balance_after"]) for e in gone] == [
        ("reversal", "out", 0), ("intra_bank", "in", yuan(300)),
    ]  # fmt: skip
    ledger_ok(container)
    assert container.audit.verify() == []
    # twice: refused, nothing moves again
    r = client.post(f"/v1/staff/transfers/{t['id']}/reverse", json={"reason": "again"}, headers=supervisor)
    problem(r, 409, "transfer_not_reversible")
    assert (balance(client, a), balance(client, b)) == (yuan(1_000), 0)


def test_reversing_twice_is_409(client: TestClient, posted, supervisor) -> None:
    _, _, t = posted
    url = f"/v1/staff/transfers/{t['id']}/reverse"
    assert client.post(url, json={"reason": "first"}, headers=supervisor).status_code == 200
    problem(client.post(url, json={"reason": "second"}, headers=supervisor), 409, "transfer_not_reversible")


def test_reversal_entry_names_the_transfer(client: TestClient, posted, supervisor) -> None:
    a, b, t = posted
    r = client.post(f"/v1/staff/transfers/{t['id']}/reverse", json={"reason": "fraud report"}, headers=supervisor)
    assert r.status_code == 200, r.text
    for cust in (a, b):
        back = statement(client, cust, type="reversal").json()["data"]
        assert len(back) == 1 and back[0]["transfer"] == t["id"]


def test_reversal_when_the_payee_spent_the_money(
    client: TestClient, container: Container, posted, supervisor, signup
) -> None:
    a, b, t = posted
    c = signup()
    assert transfer(client, container, b, yuan(250), payee_id=add_payee(client, b, c.account_id)).status_code == 201
    r = client.post(f"/v1/staff/transfers/{t['id']}/reverse", json={"reason": "fraud report"}, headers=supervisor)
    problem(r, 402, "insufficient_funds")
    assert (balance(client, a), balance(client, b)) == (yuan(700), yuan(50))
    assert client.get(f"/v1/transfers/{t['id']}", headers=a.headers).json()["status"] == "posted"
    ledger_ok(container)
    assert container.audit.verify() == []


def test_reversal_can_be_retried_once_the_payee_has_the_money_again(
    client: TestClient, container: Container, posted, supervisor, teller, signup
) -> None:
    a, b, t = posted
    c = signup()
    assert transfer(client, container, b, yuan(250), payee_id=add_payee(client, b, c.account_id)).status_code == 201
    url = f"/v1/staff/transfers/{t['id']}/reverse"
    problem(client.post(url, json={"reason": "fraud report"}, headers=supervisor), 402, "insufficient_funds")
    deposit(client, teller, b.account_id, yuan(250))
    r = client.post(url, json={"reason": "fraud report"}, headers=supervisor)
    assert r.status_code == 200, r.text
    assert (balance(client, a), balance(client, b)) == (yuan(1_000), 0)


def test_scheduled_transfer_cannot_be_reversed(client: TestClient, container: Container, signup, teller,
                                               supervisor) -> None:  # fmt: skip
    relax_rate_limits(container)
    a, b = signup(), signup()
    deposit(client, teller, a.account_id, yuan(100))
    r = transfer(client, container, a, yuan(10), payee_id=add_payee(client, a, b.account_id), arrival="delayed")
    t = r.json()
    r = client.post(f"/v1/staff/transfers/{t['id']}/reverse", json={"reason": "mistake"}, headers=supervisor)
    problem(r, 409, "transfer_not_reversible")
    assert account(client, a)["available"] == yuan(90)
    unknown = "tr_" + "1" * 26
    r = client.post(f"/v1/staff/transfers/{unknown}/reverse", json={"reason": "mistake"}, headers=supervisor)
    problem(r, 404, "not_found")


# -- who may call what ------------------------------------------------------------------------------------------


def test_customer_tokens_on_staff_routes(client: TestClient, signup, posted) -> None:
    a, b, t = posted
    calls = [
        ("/v1/staff/deposits", {"account_id": a.account_id, "amount": 100}),
        (
            "/v1/staff/transfers",
            {
                "customer_id": a.id,
                "from_account": a.account_id,
                "to_account": b.account_id,
                "amount": 100,
                "currency": "CNY",
            },
        ),
        (f"/v1/staff/transfers/{t['id']}/reverse", {"reason": "I want my money back"}),
    ]
    for url, body in calls:
        r = client.post(url, json=body, headers={**a.headers, "Idempotency-Key": new_key()})
        problem(r, 403, "forbidden")
        problem(client.post(url, json=body, headers={"Idempotency-Key": new_key()}), 401, "unauthenticated")
    assert (balance(client, a), balance(client, b)) == (yuan(700), yuan(300))


def test_staff_tokens_on_customer_money_routes(client: TestClient, posted, teller, supervisor) -> None:
    a, b, t = posted
    for staff in (teller, supervisor):
        h = {**staff, "Idempotency-Key": new_key()}
        body = {"from_account": a.account_id, "to_account": b.account_id, "amount": 100, "currency": "CNY"}
        for method, url, js in [
            ("GET", "/v1/accounts", None),
            ("POST", "/v1/accounts", {"currency": "USD"}),
            ("GET", f"/v1/accounts/{a.account_id}", None),
            ("POST", f"/v1/accounts/{a.account_id}/close", None),
            ("GET", f"/v1/accounts/{a.account_id}/transactions", None),
            ("GET", "/v1/payees", None),
            ("POST", "/v1/payees", {"name": "x", "account_id": b.account_id}),
            ("POST", "/v1/transfers/quote", body),
            ("POST", "/v1/transfers", body),
            ("GET", f"/v1/transfers/{t['id']}", None),
            ("POST", f"/v1/transfers/{t['id']}/cancel", None),
            (
                "POST",
                "/v1/step-up/challenges",
                {"method": "sms", "amount": 100, "currency": "CNY", "payee": b.account_id},
            ),
        ]:
            r = client.request(method, url, json=js, headers=h)
            problem(r, 403, "forbidden")
    assert (balance(client, a), balance(client, b)) == (yuan(700), yuan(300))


def test_staff_login_with_a_nul_character_is_refused(
    client: TestClient, container: Container, db_url: str, request: pytest.FixtureRequest
) -> None:
    staff_headers(client, container, username="teller1")
    r = client.post("/v1/staff/sessions", json={"username": "teller1\x00", "password": "counter staff passphrase"})
    # PostgreSQL text cannot hold NUL: every request carrying one is refused at the door, on both engines.
    problem(r, 400, "invalid_request")


def test_counter_transfer_memo_with_a_nul_character(
    client: TestClient, container: Container, signup, teller, db_url: str, request: pytest.FixtureRequest
) -> None:
    a, b = signup(), signup()
    deposit(client, teller, a.account_id, 1_000)
    r = _counter(client, teller, a, b.account_id, 100, memo="rent\x00")
    problem(r, 400, "invalid_request")
    assert balance(client, b) == 0
    ledger_ok(container)
