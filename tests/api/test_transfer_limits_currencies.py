"""Limits on transfers in currencies other than CNY, through the API, on both engines.

A USD account paying a USD payee is held to the USD schedule of ``data/limits.toml`` (SMS: 1,400.00 per transfer
and per day; class II: 1,400.00 a day to other people; cooling-off cap 700.00), counted in USD allowances on the USD
limit ledger, apart from the CNY ones. A currency with no schedule is refused, never unlimited.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
from auth_helpers import SignedUp
from fastapi.testclient import TestClient
from money_helpers import (
    add_payee,
    advance,
    balance,
    deposit,
    ledger_ok,
    new_key,
    open_account,
    post_transfer,
    problem,
    relax_rate_limits,
    step_up,
    transfer,
    transfer_body,
    yuan,
)

from pocketbank.bootstrap import Container
from pocketbank.domain.accounts import LIMIT_LEDGER, derive_id, limit_account_id, limit_ledger
from pocketbank.domain.ids import IdKind, parse_id
from pocketbank.domain.money import USD

HOUR = 3600
USD_SMS = 140_000  # 1,400.00 USD: the SMS per-transaction and daily limit, and class II's daily cap
USD_COOLING_OFF = 70_000  # 700.00 USD


class UsdPair:
    """A with 5,000.00 USD and 20,000.00 CNY; B with a USD and a CNY account, both saved as A's payees."""

    def __init__(self, a: SignedUp, b: SignedUp, usd_a: str, usd_b: str, usd_payee: str, cny_payee: str) -> None:
        self.a, self.b = a, b
        self.usd_a, self.usd_b = usd_a, usd_b
        self.usd_payee, self.cny_payee = usd_payee, cny_payee


@pytest.fixture
def usd(client: TestClient, container: Container, signup: Callable[..., SignedUp], teller) -> UsdPair:
    relax_rate_limits(container)
    a, b = signup(), signup()
    usd_a, usd_b = open_account(client, a, "USD"), open_account(client, b, "USD")
    deposit(client, teller, usd_a, 500_000)
    deposit(client, teller, a.account_id, yuan(20_000))
    usd_payee = add_payee(client, a, usd_b, "Bob USD")
    cny_payee = add_payee(client, a, b.account_id, "Bob")
    return UsdPair(a, b, usd_a, usd_b, usd_payee, cny_payee)


def _usd(client: TestClient, container: Container, p: UsdPair, amount: int, **kw: Any) -> Any:
    return transfer(client, container, p.a, amount, payee_id=p.usd_payee, from_account=p.usd_a, currency="USD", **kw)


def _cny(client: TestClient, container: Container, p: UsdPair, amount: int) -> Any:
    return transfer(client, container, p.a, amount, payee_id=p.cny_payee)


def test_usd_per_transaction_limit(client: TestClient, container: Container, usd: UsdPair) -> None:
    advance(container, client, 13 * HOUR, usd.a, usd.b)  # past the cooling-off of the payee and the device
    body = problem(_usd(client, container, usd, USD_SMS + 1), 402, "limit_exceeded", "amount")
    assert "auth:sms" in body["detail"] and "USD" in body["detail"]
    assert balance(client, usd.a, usd.usd_a) == 500_000
    assert _usd(client, container, usd, USD_SMS).status_code == 201
    assert balance(client, usd.b, usd.usd_b) == USD_SMS
    ledger_ok(container)


def test_usd_cooling_off_cap(client: TestClient, container: Container, usd: UsdPair) -> None:
    body = problem(_usd(client, container, usd, USD_COOLING_OFF + 1), 402, "limit_exceeded", "amount")
    assert "cooling_off" in body["detail"]
    assert _usd(client, container, usd, USD_COOLING_OFF).status_code == 201


def test_usd_daily_limit_across_transfers(client: TestClient, container: Container, usd: UsdPair) -> None:
    advance(container, client, 13 * HOUR, usd.a, usd.b)  # 21:00 in Beijing on 2026-01-01
    for amount in (60_000, 60_000):
        assert _usd(client, container, usd, amount).status_code == 201
    problem(_usd(client, container, usd, 20_001), 402, "limit_exceeded", "amount")
    assert _usd(client, container, usd, 20_000).status_code == 201
    problem(_usd(client, container, usd, 1), 402, "limit_exceeded")
    assert balance(client, usd.a, usd.usd_a) == 500_000 - USD_SMS
    # the next day (00:00 Beijing) the USD limit is fresh
    advance(container, client, 3 * HOUR + 1, usd.a, usd.b)
    assert _usd(client, container, usd, 20_001).status_code == 201
    assert balance(client, usd.b, usd.usd_b) == USD_SMS + 20_001
    ledger_ok(container)


def test_cny_and_usd_allowances_are_independent(client: TestClient, container: Container, usd: UsdPair) -> None:
    advance(container, client, 13 * HOUR, usd.a, usd.b)
    usd_r = _usd(client, container, usd, USD_SMS)
    assert usd_r.status_code == 201, usd_r.text
    problem(_usd(client, container, usd, 1), 402, "limit_exceeded")
    # the USD day is used up; the CNY day (10,000.00) is untouched
    cny_r = _cny(client, container, usd, yuan(10_000))
    assert cny_r.status_code == 201, cny_r.text
    problem(_cny(client, container, usd, 1), 402, "limit_exceeded")
    problem(_usd(client, container, usd, 1), 402, "limit_exceeded")
    assert balance(client, usd.b) == yuan(10_000) and balance(client, usd.b, usd.usd_b) == USD_SMS

    # Behind it: each transfer debited its own currency's allowances, on its own limit ledger.
    def legs(r: Any) -> tuple[int, list]:
        record = container.transfers.records.get(parse_id(IdKind.TRANSFER, r.json()["id"]))
        assert record is not None
        return record.customer_id, [leg.transfer for leg in record.legs if leg.role.startswith("limit:")]

    customer, usd_legs = legs(usd_r)
    assert {t.ledger for t in usd_legs} == {limit_ledger(USD.ledger)} == {9_000_840}
    buckets = [("auth:sms", "2026-01-01"), ("auth:sms", "2026-01"), ("class:II", "2026-01-01"), ("class:II", "2026")]
    expected = {limit_account_id(customer, scope, period, "USD") for scope, period in buckets}
    assert {t.debit_account_id for t in usd_legs} == expected
    _, cny_legs = legs(cny_r)
    assert {t.ledger for t in cny_legs} == {LIMIT_LEDGER}
    # CNY allowances keep the id derivation they had before limits had currencies
    assert derive_id("limit", customer, "auth:sms", "2026-01-01") in {t.debit_account_id for t in cny_legs}
    day_usd = limit_account_id(customer, "auth:sms", "2026-01-01", "USD")
    day_cny = limit_account_id(customer, "auth:sms", "2026-01-01")
    by_id = {a.id: a for a in container.ledger.lookup_accounts([day_usd, day_cny])}
    assert (by_id[day_usd].ledger, by_id[day_usd].credits_posted, by_id[day_usd].debits_posted) == (
        9_000_840, USD_SMS, USD_SMS,
    )  # fmt: skip
    assert (by_id[day_cny].ledger, by_id[day_cny].credits_posted, by_id[day_cny].debits_posted) == (
        LIMIT_LEDGER, yuan(10_000), yuan(10_000),
    )  # fmt: skip
    ledger_ok(container)


@pytest.mark.parametrize("n", [2, 8])
def test_concurrent_usd_transfers_only_one_fits(
    client: TestClient, container: Container, usd: UsdPair, teller, n: int
) -> None:
    """n transfers of 800.00 USD at once against a 1,400.00 USD day, with money for all: exactly one passes."""
    deposit(client, teller, usd.usd_a, n * 80_000)
    advance(container, client, 13 * HOUR, usd.a, usd.b)
    amount = 80_000
    bodies = [
        transfer_body(usd.a, amount, payee_id=usd.usd_payee, from_account=usd.usd_a, currency="USD",
                      proof=step_up(client, container, usd.a, amount, usd.usd_payee, "USD"))
        for _ in range(n)
    ]  # fmt: skip
    keys = [new_key("usd-race") for _ in range(n)]
    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(lambda bk: post_transfer(client, usd.a, bk[0], bk[1]), zip(bodies, keys, strict=True)))
    accepted = [r for r in results if r.status_code == 201]
    assert len(accepted) == 1, [r.text for r in results]
    assert {(r.status_code, r.json()["code"]) for r in results if r.status_code != 201} == {(402, "limit_exceeded")}
    assert balance(client, usd.b, usd.usd_b) == amount
    assert balance(client, usd.a, usd.usd_a) == 500_000 + n * 80_000 - amount
    ledger_ok(container)


def test_cancelled_scheduled_usd_transfer_releases_its_allowance(
    client: TestClient, container: Container, usd: UsdPair
) -> None:
    advance(container, client, 13 * HOUR, usd.a, usd.b)
    r = _usd(client, container, usd, USD_SMS, arrival="delayed")
    assert r.status_code == 201 and r.json()["status"] == "scheduled", r.text
    problem(_usd(client, container, usd, 1), 402, "limit_exceeded")
    cancel = client.post(f"/v1/transfers/{r.json()['id']}/cancel", headers=usd.a.headers)
    assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled", cancel.text
    assert _usd(client, container, usd, USD_SMS).status_code == 201
    assert balance(client, usd.b, usd.usd_b) == USD_SMS
    ledger_ok(container)


def _counter_usd(client: TestClient, staff: dict[str, str], p: UsdPair, amount: int) -> Any:
    body = {"customer_id": p.a.id, "from_account": p.usd_a, "to_account": p.usd_b, "amount": amount,
            "currency": "USD"}  # fmt: skip
    return client.post("/v1/staff/transfers", json=body, headers={**staff, "Idempotency-Key": new_key("ctr")})


def test_counter_usd_transfer_follows_the_class_caps(client: TestClient, container: Container, usd: UsdPair,
                                                     teller) -> None:  # fmt: skip
    # no step-up and no cooling-off at the counter (as in CNY), but class II's 1,400.00 USD a day to others applies
    assert _counter_usd(client, teller, usd, 100_000).status_code == 201
    body = problem(_counter_usd(client, teller, usd, 40_001), 402, "limit_exceeded", "amount")
    assert "class:II" in body["detail"]
    assert _counter_usd(client, teller, usd, 40_000).status_code == 201
    assert balance(client, usd.b, usd.usd_b) == USD_SMS
    ledger_ok(container)


def test_a_currency_without_a_schedule_is_refused(client: TestClient, container: Container, usd: UsdPair,
                                                  teller) -> None:  # fmt: skip
    policy = container.transfers.limits
    container.transfers.limits = replace(policy, currencies={c: s for c, s in policy.currencies.items() if c != "USD"})
    problem(_usd(client, container, usd, 100), 400, "limits_unavailable", "currency")
    problem(_counter_usd(client, teller, usd, 100), 400, "limits_unavailable", "currency")
    assert balance(client, usd.a, usd.usd_a) == 500_000 and balance(client, usd.b, usd.usd_b) == 0
    # CNY still has its limits and works
    assert _cny(client, container, usd, 100).status_code == 201
    ledger_ok(container)


def test_a_currency_without_a_schedule_is_refused_before_the_step_up_code_is_spent(
    client: TestClient, container: Container, usd: UsdPair
) -> None:
    policy = container.transfers.limits
    container.transfers.limits = replace(policy, currencies={c: s for c, s in policy.currencies.items() if c != "USD"})
    quote = transfer_body(usd.a, 100, payee_id=usd.usd_payee, from_account=usd.usd_a, currency="USD")
    problem(
        client.post("/v1/transfers/quote", json=quote, headers=usd.a.headers), 400, "limits_unavailable", "currency"
    )
    proof = step_up(client, container, usd.a, 100, usd.usd_payee, "USD")
    body = transfer_body(usd.a, 100, payee_id=usd.usd_payee, from_account=usd.usd_a, currency="USD", proof=proof)
    problem(post_transfer(client, usd.a, body), 400, "limits_unavailable", "currency")
    # Once the currency has limits again, the same proof still confirms the transfer: it was never spent.
    container.transfers.limits = policy
    assert post_transfer(client, usd.a, body).status_code == 201
    ledger_ok(container)
