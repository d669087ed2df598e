"""A transfer's idempotent response is stored in the unit of work that records its outcome (Stripe's atomic phases).

So there is no moment at which the money has moved but the key still says "in progress": a server that dies right
after the transfer commits leaves a key that replays the answer, not one that refuses every retry with 409 until
its lease runs out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from auth_helpers import SignedUp
from fastapi.testclient import TestClient
from money_helpers import (
    add_payee,
    balance,
    deposit,
    ledger_ok,
    post_transfer,
    relax_rate_limits,
    step_up,
    transfer_body,
    yuan,
)
from starlette.requests import Request

from pocketbank.api.idempotency import Completion, run_idempotent
from pocketbank.bootstrap import Container
from pocketbank.errors import Conflict
from pocketbank.services.ports import IdempotentResponse, Reply


def _server_dies_after_the_transfer_commits(container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing the request would do after its own units of work happens: no separate completion, no release."""
    store = container.idempotency

    def dies_before_completing(*args: Any, **kwargs: Any) -> None:  # what is stored inside the transfer stays
        raise RuntimeError("the server died before it could store the response")

    monkeypatch.setattr(store, "complete", dies_before_completing)
    monkeypatch.setattr(store, "release", lambda principal, key: None)


def _answered_then_replayed(post: Callable[[], Any]) -> Any:
    """The first request's 201, and a retry that replays it byte for byte."""
    first = post()
    assert first.status_code == 201, first.text
    again = post()
    assert (again.status_code, again.headers.get("idempotent-replayed")) == (201, "true"), again.text
    assert again.content == first.content
    return first


@pytest.fixture
def pair(
    client: TestClient, container: Container, signup: Callable[..., SignedUp], teller: dict[str, str]
) -> tuple[SignedUp, SignedUp]:
    """A, with 1,000.00 CNY, and B."""
    relax_rate_limits(container)
    a, b = signup(), signup()
    deposit(client, teller, a.account_id, yuan(1_000))
    return a, b


def test_a_crash_after_the_transfer_commits_leaves_a_key_that_replays_it(
    client: TestClient, container: Container, pair: tuple[SignedUp, SignedUp], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = pair
    payee = add_payee(client, a, b.account_id, "Bob")
    body = transfer_body(a, 700, payee_id=payee, proof=step_up(client, container, a, 700, payee))
    _server_dies_after_the_transfer_commits(container, monkeypatch)

    first = _answered_then_replayed(lambda: post_transfer(client, a, body, key="atomic-1"))
    assert first.json()["status"] == "posted"
    assert balance(client, a) == yuan(1_000) - 700 and balance(client, b) == 700
    ledger_ok(container)


def test_so_does_a_counter_transfer(
    client: TestClient,
    container: Container,
    pair: tuple[SignedUp, SignedUp],
    teller: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = pair
    body = {
        "customer_id": a.id, "from_account": a.account_id, "to_account": b.account_id, "amount": 900,
        "currency": "CNY",
    }  # fmt: skip
    _server_dies_after_the_transfer_commits(container, monkeypatch)
    headers = {**teller, "Idempotency-Key": "atomic-counter-1"}
    first = _answered_then_replayed(lambda: client.post("/v1/staff/transfers", json=body, headers=headers))
    assert first.json()["channel"] == "counter"
    assert balance(client, a) == yuan(1_000) - 900 and balance(client, b) == 900
    ledger_ok(container)


def _request() -> Request:
    return Request({"type": "http", "method": "POST", "path": "/v1/transfers", "headers": [], "query_string": b""})


def test_an_error_after_the_outcome_committed_does_not_replace_its_stored_response(container: Container) -> None:
    store = container.idempotency
    stored = {"id": "tr_1", "status": "posted"}

    def call(complete: Completion) -> tuple[int, Any]:
        with container.uow.begin() as tx:
            store.complete_many(tx, [complete.reply(201, stored)])
        raise Conflict("something failed after the commit")

    first = run_idempotent(_request(), store, 0, "cus_X", "k-after", {"a": 1}, call)
    assert (first.status_code, first.body) == (201, b'{"id":"tr_1","status":"posted"}')
    again = run_idempotent(_request(), store, 1, "cus_X", "k-after", {"a": 1}, lambda c: (500, {}))
    assert (again.status_code, again.body) == (201, first.body)
    assert again.headers["idempotent-replayed"] == "true"


def test_without_a_completion_the_response_is_stored_afterwards(container: Container) -> None:
    store = container.idempotency
    first = run_idempotent(_request(), store, 0, "cus_Y", "k-plain", {"b": 2}, lambda c: (200, {"ok": True}))
    assert (first.status_code, first.body) == (200, b'{"ok":true}')
    assert "idempotent-replayed" not in first.headers
    again = run_idempotent(_request(), store, 1, "cus_Y", "k-plain", {"b": 2}, lambda c: (500, {}))
    assert again.headers["idempotent-replayed"] == "true" and again.body == first.body


def test_a_response_stored_in_a_unit_of_work_is_replayed(container: Container) -> None:
    store = container.idempotency
    assert store.claim("cus_Z", "k-tx", "f", now=0, lease_ns=10).replay is None
    with container.uow.begin() as tx:
        store.complete_many(tx, [Reply("cus_Z", "k-tx", IdempotentResponse(201, '{"id":"tr_9"}'))])
    assert store.claim("cus_Z", "k-tx", "f", now=1, lease_ns=10).replay == IdempotentResponse(201, '{"id":"tr_9"}')
