"""Helpers for the money API tests: fund an account at the counter, add a payee, step-up challenges, transfers.

Import with ``from money_helpers import ...`` (``tests/api`` is on ``sys.path`` like ``auth_helpers``).

Amounts are minor units (fen for CNY): ``yuan(10_000)`` is 10,000.00 CNY = 1,000,000 fen.

Rate limits: a customer may receive only 5 SMS per 15 minutes (the sign-up code is one of them), and a step-up
challenge lives 5 minutes, so a test that needs many SMS challenges cannot simply wait for the window to pass.
``relax_rate_limits(container)`` raises the per-customer SMS and step-up limits for that test's container only.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from auth_helpers import SignedUp, last_code
from fastapi.testclient import TestClient

from pocketbank.bootstrap import Container
from pocketbank.services.auth_common import RateLimits, RateRule

_keys = itertools.count(1)


def yuan(amount: int) -> int:
    """Whole CNY (or any 2-decimal currency) in minor units."""
    return amount * 100


def new_key(prefix: str = "k") -> str:
    return f"{prefix}-{next(_keys)}-{uuid.uuid4().hex[:8]}"


def relax_rate_limits(container: Container) -> None:
    """Let one customer receive many SMS step-up codes and check many step-up proofs within minutes."""
    deps = container.auth.d
    deps.limits = RateLimits(
        sms_per_phone=RateRule(10_000, 900),
        sms_per_client=RateRule(10_000, 3600),
        challenges_per_customer=RateRule(10_000, 600),
        step_up_checks_per_customer=RateRule(10_000, 3600),
        login_per_phone=RateRule(10_000, 900),
        login_per_client=RateRule(10_000, 60),
    )


def relogin(client: TestClient, cust: SignedUp) -> SignedUp:
    """Log in again on the customer's trusted device (after the clock moved past the session's idle timeout)."""
    r = client.post("/v1/sessions", json={"phone": cust.phone, "password": cust.password, "device_id": cust.device_id})
    assert r.status_code == 201, r.text
    body = r.json()
    cust.access_token = body["access_token"]
    cust.refresh_token = body["refresh_token"]
    cust.session_id = body["id"]
    return cust


def advance(container: Container, client: TestClient, seconds: int, *customers: SignedUp) -> None:
    """Move the bank's clock and log the given customers in again (sessions idle out after 5 minutes)."""
    container.clock.advance(seconds)  # type: ignore[attr-defined]
    for c in customers:
        relogin(client, c)


def deposit(
    client: TestClient, teller: dict[str, str], account_id: str, amount: int, key: str | None = None
) -> dict[str, Any]:
    """Cash paid in at the counter; returns the account as the API shows it after the deposit."""
    r = client.post(
        "/v1/staff/deposits",
        json={"account_id": account_id, "amount": amount},
        headers={**teller, "Idempotency-Key": key or new_key("dep")},
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def open_account(client: TestClient, cust: SignedUp, currency: str) -> str:
    r = client.post("/v1/accounts", json={"currency": currency}, headers=cust.headers)
    assert r.status_code == 201, r.text
    account_id: str = r.json()["id"]
    return account_id


def account(client: TestClient, cust: SignedUp, account_id: str | None = None) -> dict[str, Any]:
    """The account as its owner sees it (default: the customer's CNY account)."""
    r = client.get(f"/v1/accounts/{account_id or cust.account_id}", headers=cust.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def balance(client: TestClient, cust: SignedUp, account_id: str | None = None) -> int:
    value: int = account(client, cust, account_id)["balance"]
    return value


def add_payee(client: TestClient, cust: SignedUp, account_id: str | None, name: str = "Li Lei") -> str:
    r = client.post("/v1/payees", json={"name": name, "account_id": account_id}, headers=cust.headers)
    assert r.status_code == 201, r.text
    payee_id: str = r.json()["id"]
    return payee_id


def step_up(
    client: TestClient, container: Container, cust: SignedUp, amount: int, payee: str, currency: str = "CNY"
) -> dict[str, str]:
    """An SMS step-up challenge bound to (amount, currency, payee) and its code, as the ``step_up`` body member."""
    r = client.post(
        "/v1/step-up/challenges",
        json={"method": "sms", "amount": amount, "currency": currency, "payee": payee},
        headers=cust.headers,
    )
    assert r.status_code == 201, r.text
    return {"challenge_id": r.json()["id"], "code": last_code(container, cust.phone)}


def transfer_body(
    cust: SignedUp,
    amount: int,
    *,
    payee_id: str | None = None,
    to_account: str | None = None,
    from_account: str | None = None,
    currency: str = "CNY",
    arrival: str | None = None,
    memo: str | None = None,
    proof: dict[str, str] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"from_account": from_account or cust.account_id, "amount": amount, "currency": currency}
    if payee_id is not None:
        body["payee_id"] = payee_id
    if to_account is not None:
        body["to_account"] = to_account
    if arrival is not None:
        body["arrival"] = arrival
    if memo is not None:
        body["memo"] = memo
    if proof is not None:
        body["step_up"] = proof
    return body


def post_transfer(client: TestClient, cust: SignedUp, body: dict[str, Any], key: str | None = None) -> Any:
    """POST /v1/transfers with an Idempotency-Key (a fresh one unless given); returns the response."""
    return client.post("/v1/transfers", json=body, headers={**cust.headers, "Idempotency-Key": key or new_key("tr")})


def transfer(
    client: TestClient,
    container: Container,
    cust: SignedUp,
    amount: int,
    *,
    payee_id: str | None = None,
    to_account: str | None = None,
    from_account: str | None = None,
    currency: str = "CNY",
    arrival: str | None = None,
    memo: str | None = None,
    key: str | None = None,
) -> Any:
    """Make a step-up challenge bound to this payment and send the transfer with it; returns the response."""
    ref = payee_id or to_account
    assert ref is not None
    proof = step_up(client, container, cust, amount, ref, currency)
    body = transfer_body(
        cust, amount, payee_id=payee_id, to_account=to_account, from_account=from_account, currency=currency,
        arrival=arrival, memo=memo, proof=proof,
    )  # fmt: skip
    return post_transfer(client, cust, body, key)


def problem(r: Any, status: int | None, code: str, param: str | None = None) -> dict[str, Any]:
    """Assert an RFC 9457 problem response with this status and code (and param, if given); return its body.

    ``status=None`` accepts any 4xx.
    """
    if status is None:
        assert 400 <= r.status_code < 500, r.text
    else:
        assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers["content-type"]
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    assert body["status"] == r.status_code
    if param is not None:
        assert body["param"] == param, body
    return body


def statement(client: TestClient, cust: SignedUp, account_id: str | None = None, **params: Any) -> Any:
    return client.get(f"/v1/accounts/{account_id or cust.account_id}/transactions", params=params, headers=cust.headers)


def ledger_ok(container: Container) -> None:
    report = container.ledger.verify()
    assert report.ok, report
