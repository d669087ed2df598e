"""Concurrent transfers through the API, on both engines: the ledger, the limits and the idempotency store hold.

20 threads share one TestClient (each request runs on its own worker thread inside the app). The step-up
challenges are made beforehand, one per transfer, so the only thing racing is the money.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient
from money_helpers import (
    add_payee,
    advance,
    balance,
    deposit,
    ledger_ok,
    post_transfer,
    relax_rate_limits,
    statement,
    step_up,
    transfer_body,
    yuan,
)

from pocketbank.bootstrap import Container

N = 20


def _race(client: TestClient, cust, bodies: list[dict[str, Any]], keys: list[str]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=N) as pool:
        return list(pool.map(lambda bk: post_transfer(client, cust, bk[0], bk[1]), zip(bodies, keys, strict=True)))


def test_overdraft_race(client: TestClient, container: Container, signup, teller) -> None:
    relax_rate_limits(container)
    a, b = signup(), signup()
    deposit(client, teller, a.account_id, yuan(10_000))
    payee = add_payee(client, a, b.account_id)
    advance(container, client, 13 * 3600, a, b)  # past cooling-off (it would not bite at 1,000.00 anyway)
    bodies = [
        transfer_body(a, yuan(1_000), payee_id=payee, proof=step_up(client, container, a, yuan(1_000), payee))
        for _ in range(N)
    ]
    results = _race(client, a, bodies, [f"race-{i}" for i in range(N)])
    codes = sorted(r.status_code for r in results)
    assert codes.count(201) == 10, [r.text for r in results]
    refused = [r for r in results if r.status_code != 201]
    # The account holds exactly 10 of them, and the SMS daily limit is exactly 10,000.00 too: each refusal is one
    # of the two (whichever leg of the linked chain the ledger checked first).
    assert {r.json()["code"] for r in refused} <= {"insufficient_funds", "limit_exceeded"}
    assert all(r.status_code == 402 for r in refused)
    assert balance(client, a) == 0
    assert balance(client, b) == yuan(10_000)
    entries = statement(client, a, limit=100).json()["data"]
    assert all(e["balance_after"] >= 0 for e in entries)
    assert sum(e["amount"] for e in entries if e["direction"] == "out") == yuan(10_000)
    ledger_ok(container)
    assert container.audit.verify() == []


def test_overdraft_race_balance_is_the_only_constraint(client: TestClient, container: Container, signup,
                                                       teller) -> None:  # fmt: skip
    """Below the daily limit: 20 x 300.00 from 3,000.00 -> exactly 10 pass, and every refusal is for funds."""
    relax_rate_limits(container)
    a, b = signup(), signup()
    deposit(client, teller, a.account_id, yuan(3_000))
    payee = add_payee(client, a, b.account_id)
    bodies = [
        transfer_body(a, yuan(300), payee_id=payee, proof=step_up(client, container, a, yuan(300), payee))
        for _ in range(N)
    ]
    results = _race(client, a, bodies, [f"small-{i}" for i in range(N)])
    assert [r.status_code for r in results].count(201) == 10
    assert {r.json()["code"] for r in results if r.status_code != 201} == {"insufficient_funds"}
    assert (balance(client, a), balance(client, b)) == (0, yuan(3_000))
    ledger_ok(container)


def test_daily_limit_race(client: TestClient, container: Container, signup, teller) -> None:
    relax_rate_limits(container)
    a, b = signup(), signup()
    deposit(client, teller, a.account_id, yuan(50_000))
    payee = add_payee(client, a, b.account_id)
    advance(container, client, 13 * 3600, a, b)
    # 20 transfers of 1,300.00: any 7 fit the 10,000.00 day (9,100.00), the 8th never does
    amount = yuan(1_300)
    bodies = [
        transfer_body(a, amount, payee_id=payee, proof=step_up(client, container, a, amount, payee)) for _ in range(N)
    ]
    results = _race(client, a, bodies, [f"day-{i}" for i in range(N)])
    accepted = [r for r in results if r.status_code == 201]
    assert len(accepted) == 7, [r.text for r in results]
    assert {r.json()["code"] for r in results if r.status_code != 201} == {"limit_exceeded"}
    assert sum(r.json()["amount"] for r in accepted) <= yuan(10_000)
    assert balance(client, b) == 7 * amount
    assert balance(client, a) == yuan(50_000) - 7 * amount
    ledger_ok(container)


def test_same_key_twenty_times(client: TestClient, container: Container, signup, teller) -> None:
    relax_rate_limits(container)
    a, b = signup(), signup()
    deposit(client, teller, a.account_id, yuan(1_000))
    payee = add_payee(client, a, b.account_id)
    body = transfer_body(a, yuan(100), payee_id=payee, proof=step_up(client, container, a, yuan(100), payee))
    results = _race(client, a, [body] * N, ["one-key"] * N)
    ok = [r for r in results if r.status_code == 201]
    busy = [r for r in results if r.status_code == 409]
    assert len(ok) + len(busy) == N, [r.text for r in results]
    assert ok, "at least the first request succeeds"
    assert all(r.json()["code"] == "idempotency_key_in_use" for r in busy)
    assert len({r.text for r in ok}) == 1  # original and replays: the same body
    assert len({r.json()["id"] for r in ok}) == 1
    assert sum(1 for r in ok if r.headers.get("idempotent-replayed") != "true") == 1
    # and afterwards a retry replays the one transfer
    again = post_transfer(client, a, body, "one-key")
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == ok[0].json()
    assert (balance(client, a), balance(client, b)) == (yuan(900), yuan(100))
    assert len(statement(client, b).json()["data"]) == 1
    ledger_ok(container)
    assert container.audit.verify() == []
