"""``/v1/transfers``: quote, create (Idempotency-Key, step-up bound to amount and payee), limits, scheduled
arrival, cancel; and ``/v1/accounts/{id}/transactions`` (filters and pagination)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from auth_helpers import SignedUp
from fastapi.testclient import TestClient
from money_helpers import (
    account,
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
    relogin,
    statement,
    step_up,
    transfer,
    transfer_body,
    yuan,
)

from pocketbank.bootstrap import Container

HOUR = 3600
START_S = 1_767_225_600  # the ManualClock's start: 2026-01-01T00:00Z = 08:00 in Beijing
NS = 1_000_000_000


class Pair:
    """A (payer) with 20,000.00 CNY and B (payee) saved as A's payee."""

    def __init__(self, a: SignedUp, b: SignedUp, payee: str) -> None:
        self.a, self.b, self.payee = a, b, payee


@pytest.fixture
def pair(client: TestClient, container: Container, signup: Callable[..., SignedUp], teller) -> Pair:
    relax_rate_limits(container)
    a, b = signup(), signup()
    deposit(client, teller, a.account_id, yuan(20_000))
    return Pair(a, b, add_payee(client, a, b.account_id, "Bob"))


def _nothing_moved(client: TestClient, container: Container, p: Pair, a_balance: int = yuan(20_000)) -> None:
    got = account(client, p.a)
    assert (got["balance"], got["available"]) == (a_balance, a_balance)
    assert balance(client, p.b) == 0
    ledger_ok(container)


# -- quote ------------------------------------------------------------------------------------------------------


def test_quote_on_mobile_is_free(client: TestClient, container: Container, pair: Pair) -> None:
    a = pair.a
    body = {"from_account": a.account_id, "payee_id": pair.payee, "amount": 12_345, "currency": "CNY"}
    r = client.post("/v1/transfers/quote", json=body, headers=a.headers)
    assert r.status_code == 200, r.text
    q = r.json()
    # Intra-bank transfers are free at every channel (data/pricing.toml: counter rate 0), so on mobile the fee is 0
    # and there is nothing to waive: fee_waived is false and there is no fee_note (domain/pricing.py says so).
    assert q == {
        "object": "transfer_quote", "amount": 12_345, "currency": "CNY", "fee": 0, "fee_waived": False,
        "fee_note": None, "counter_fee": 0, "total": 12_345, "arrival": "real_time", "arrives_at": None,
        "payee_name": "Bob",
    }  # fmt: skip
    # a quote reserves nothing
    assert account(client, a)["available"] == yuan(20_000)
    # the customer's session is on the mobile channel: a transfer made with it records that
    r = transfer(client, container, a, 12_345, payee_id=pair.payee)
    assert r.status_code == 201, r.text
    assert r.json()["channel"] == "mobile" and r.json()["fee"] == 0 and r.json()["auth_method"] == "sms"


def test_quote_arrival_times(client: TestClient, pair: Pair) -> None:
    a = pair.a
    base = {"from_account": a.account_id, "payee_id": pair.payee, "amount": 100, "currency": "cny"}
    r = client.post("/v1/transfers/quote", json={**base, "arrival": "delayed"}, headers=a.headers)
    assert r.status_code == 200, r.text
    assert r.json()["arrives_at"] == (START_S + 2 * HOUR) * NS and r.json()["currency"] == "CNY"
    r = client.post("/v1/transfers/quote", json={**base, "arrival": "next_day"}, headers=a.headers)
    # 08:00 Beijing on 2026-01-01 -> the next natural day starts 2026-01-02T00:00+08:00 = 16:00Z on 01-01
    assert r.json()["arrives_at"] == (START_S + 16 * HOUR) * NS


def test_quote_rejects_step_up_and_two_destinations(client: TestClient, pair: Pair) -> None:
    a = pair.a
    base = {"from_account": a.account_id, "amount": 100, "currency": "CNY"}
    r = client.post("/v1/transfers/quote", json={**base, "payee_id": pair.payee, "to_account": a.account_id},
                    headers=a.headers)  # fmt: skip
    problem(r, 400, "invalid_request")
    problem(client.post("/v1/transfers/quote", json=base, headers=a.headers), 400, "invalid_request")


# -- the happy path ---------------------------------------------------------------------------------------------


def test_transfer_moves_money_and_shows_in_both_statements(
    client: TestClient, container: Container, pair: Pair
) -> None:
    a, b = pair.a, pair.b
    r = transfer(client, container, a, 12_345, payee_id=pair.payee, memo="rent")
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["object"] == "transfer" and t["id"].startswith("tr_") and t["status"] == "posted"
    assert (t["from_account"], t["to_account"], t["payee_id"]) == (a.account_id, b.account_id, pair.payee)
    assert (t["amount"], t["currency"], t["fee"], t["memo"], t["arrival"]) == (12_345, "CNY", 0, "rent", "real_time")
    assert t["arrives_at"] is None and t["created"] == START_S * NS

    assert account(client, a)["balance"] == yuan(20_000) - 12_345
    assert account(client, a)["available"] == yuan(20_000) - 12_345
    assert balance(client, b) == 12_345

    out = statement(client, a).json()["data"]
    assert [e["type"] for e in out] == ["intra_bank", "deposit"]
    assert out[0]["direction"] == "out" and out[0]["amount"] == 12_345 and out[0]["transfer"] == t["id"]
    assert out[0]["counterparty"] == b.account_id and out[0]["memo"] == "rent" and out[0]["channel"] == "mobile"
    assert out[0]["balance_after"] == yuan(20_000) - 12_345 and out[0]["status"] == "posted"
    assert out[1]["balance_after"] == yuan(20_000) and out[1]["counterparty"] == "bank"
    inc = statement(client, b).json()["data"]
    assert len(inc) == 1
    assert inc[0]["direction"] == "in" and inc[0]["amount"] == 12_345 and inc[0]["balance_after"] == 12_345
    assert inc[0]["counterparty"] == a.account_id and inc[0]["fee"] == 0 and inc[0]["transfer"] == t["id"]

    assert client.get(f"/v1/transfers/{t['id']}", headers=a.headers).json() == t
    # the payee does not own the transfer
    problem(client.get(f"/v1/transfers/{t['id']}", headers=b.headers), 404, "not_found", "transfer_id")
    ledger_ok(container)
    assert container.audit.verify() == []


def test_transfer_between_own_accounts_needs_no_payee(client: TestClient, container: Container, pair: Pair) -> None:
    a = pair.a
    # an own CNY account other than the default one cannot exist (one open account per currency), so the own
    # transfer to the same account is refused as same_account
    r = transfer(client, container, a, 100, to_account=a.account_id)
    problem(r, 400, "same_account", "to_account")


# -- Idempotency-Key --------------------------------------------------------------------------------------------


def test_missing_idempotency_key(client: TestClient, container: Container, pair: Pair) -> None:
    a = pair.a
    proof = step_up(client, container, a, 500, pair.payee)
    body = transfer_body(a, 500, payee_id=pair.payee, proof=proof)
    problem(client.post("/v1/transfers", json=body, headers=a.headers), 400, "idempotency_key_required",
            "Idempotency-Key")  # fmt: skip
    blank = {**a.headers, "Idempotency-Key": "   "}
    problem(client.post("/v1/transfers", json=body, headers=blank), 400, "idempotency_key_required")
    _nothing_moved(client, container, pair)
    # the refusal came before the step-up was checked: the same proof still works with a key
    assert post_transfer(client, a, body).status_code == 201
    assert balance(client, pair.b) == 500


def test_same_key_same_body_replays(client: TestClient, container: Container, pair: Pair) -> None:
    a = pair.a
    proof = step_up(client, container, a, 700, pair.payee)
    body = transfer_body(a, 700, payee_id=pair.payee, proof=proof)
    first = post_transfer(client, a, body, key="pay-1")
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    for _ in range(3):
        again = post_transfer(client, a, body, key="pay-1")
        assert again.status_code == 201, again.text
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
    # a retry with a fresh step-up proof is still the same request (the proof is not part of the fingerprint)
    fresh = {**body, "step_up": step_up(client, container, a, 700, pair.payee)}
    again = post_transfer(client, a, fresh, key="pay-1")
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert balance(client, a) == yuan(20_000) - 700 and balance(client, pair.b) == 700
    assert len(statement(client, pair.b).json()["data"]) == 1
    ledger_ok(container)


def _purge_keys(container: Container, client: TestClient, pair: Pair) -> None:
    advance(container, client, 25 * 3600, pair.a, pair.b)  # past the 24 hours a key replays its response
    assert container.housekeeping.run_once().idempotency_keys >= 1


@contextmanager
def _server_dies_writing_a_status(container: Container, why: str) -> Iterator[pytest.MonkeyPatch]:
    """Within the block the server dies when it writes a transfer's status (an outcome, a cancellation): what came
    before has happened. The caller may patch more on the yielded monkeypatch; it all ends with the block."""

    def die(*args: object, **kwargs: object) -> bool:
        raise RuntimeError(f"the server died {why}")

    with pytest.MonkeyPatch.context() as mp:
        for write in ("set_status", "set_status_many"):  # one transfer's, or a batch's (``transfer_submit``)
            mp.setattr(container.transfers.effects.records, write, die)
        yield mp


def test_the_chain_has_new_time_ordered_ledger_ids_that_a_retry_reuses(
    client: TestClient, container: Container, pair: Pair
) -> None:
    """The legs' ledger ids are new ids that start with the millisecond they were made in (so the ledger appends
    them), recorded with the transfer; a retry whose response was lost resubmits exactly those, and the ledger
    holds each once."""
    from pocketbank.domain.ids import IdKind, parse_id

    a = pair.a
    before_ms = time.time_ns() // 1_000_000
    first = transfer(client, container, a, 700, payee_id=pair.payee, key="pay-legs")
    after_ms = time.time_ns() // 1_000_000
    assert first.status_code == 201, first.text
    record = container.transfers.records.get(parse_id(IdKind.TRANSFER, first.json()["id"]))
    assert record is not None and len(record.legs) >= 2  # the payment and at least a daily limit
    ids = [leg.transfer.id for leg in record.legs]
    assert len(set(ids)) == len(ids) and record.id not in ids
    assert all(before_ms <= i >> 80 <= after_ms for i in ids)
    assert {leg.transfer.user_data_128 for leg in record.legs} == {record.id}
    # The response is lost and the key's stored answer purged: the retry is the same transfer with the same legs.
    _purge_keys(container, client, pair)
    again = transfer(client, container, a, 700, payee_id=pair.payee, key="pay-legs")
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert container.transfers.records.get(record.id) == record
    assert sorted(t.id for t in container.ledger.lookup_transfers(ids)) == sorted(ids)
    assert balance(client, pair.b) == 700
    ledger_ok(container)


def test_a_crash_between_the_ledger_and_the_outcome_is_resumed_by_the_retry(
    client: TestClient, container: Container, pair: Pair
) -> None:
    """The chain applied, then the server died before it wrote the outcome: the record stays ``processing`` with its
    chain, and the retry resubmits that chain exactly (the ledger answers ``exists``), so the transfer is posted
    once, shows in both statements, and is not reported as refused."""
    a = pair.a
    proof = step_up(client, container, a, 900, pair.payee)
    body = transfer_body(a, 900, payee_id=pair.payee, proof=proof)
    with _server_dies_writing_a_status(container, "before it wrote the outcome"):
        assert post_transfer(client, a, body, key="pay-crash").status_code == 500
    assert balance(client, pair.b) == 900  # the ledger applied it
    again = post_transfer(client, a, body, key="pay-crash")  # the proof was spent: the record is found first
    assert again.status_code == 201, again.text
    assert again.json()["status"] == "posted"
    assert balance(client, a) == yuan(20_000) - 900 and balance(client, pair.b) == 900
    for who in (a, pair.b):  # each statement shows the payment once, as this transfer's
        entries = [e for e in statement(client, who).json()["data"] if e["transfer"] == again.json()["id"]]
        assert [(e["type"], e["amount"]) for e in entries] == [("intra_bank", 900)]
    ledger_ok(container)


@pytest.mark.parametrize("dies", ["after the ledger", "before the ledger"])
def test_a_transfer_whose_request_died_and_was_never_retried_is_finished_by_the_scheduler(
    client: TestClient, container: Container, pair: Pair, dies: str
) -> None:
    """The record stays ``processing`` until the scheduler resubmits its chain: the money moves exactly once, and
    the transfer gets its outcome, its audit record and its event, as if the request had finished."""
    a = pair.a
    ledger = container.transfers.effects.ledger
    send = ledger.create_transfers

    def die_on_the_chain(transfers: list[Any]) -> object:  # the limit allowances are funded before: let them be
        if any(t.user_data_128 for t in transfers):
            raise RuntimeError("the server died before the ledger")
        return send(transfers)

    with _server_dies_writing_a_status(container, dies) as mp:
        if dies == "before the ledger":
            mp.setattr(ledger, "create_transfers", die_on_the_chain)
        assert transfer(client, container, a, 900, payee_id=pair.payee).status_code == 500
    assert balance(client, pair.b) == (900 if dies == "after the ledger" else 0)
    assert container.transfers.resume_stalled() == 0  # a request may still be running: not yet
    advance(container, client, 3 * 60, a, pair.b)
    assert container.transfers.resume_stalled() == 1
    assert container.transfers.resume_stalled() == 0
    (entry,) = [e for e in statement(client, a).json()["data"] if e["type"] == "intra_bank"]
    record = client.get(f"/v1/transfers/{entry['transfer']}", headers=a.headers).json()
    assert (record["status"], record["amount"]) == ("posted", 900)
    assert balance(client, a) == yuan(20_000) - 900 and balance(client, pair.b) == 900
    created = [e for e in container.audit.entries() if e.record.action == "transfer.created"]
    assert [e.record.subject for e in created] == [record["id"]]
    events = [e for e in container.outbox.undispatched() if e.type == "transfer.created"]
    assert len(events) == 1
    ledger_ok(container)
    assert container.audit.verify() == []


def test_same_key_different_body_is_422(client: TestClient, container: Container, pair: Pair) -> None:
    a = pair.a
    assert transfer(client, container, a, 700, payee_id=pair.payee, key="pay-2").status_code == 201
    r = transfer(client, container, a, 701, payee_id=pair.payee, key="pay-2")
    problem(r, 422, "idempotency_key_reused", "Idempotency-Key")
    r = transfer(client, container, a, 700, payee_id=pair.payee, key="pay-2", memo="different")
    problem(r, 422, "idempotency_key_reused")
    assert balance(client, pair.b) == 700


def test_after_the_key_is_purged_a_retry_finds_its_transfer_and_another_payment_is_refused(
    client: TestClient, container: Container, pair: Pair
) -> None:
    a = pair.a
    first = transfer(client, container, a, 700, payee_id=pair.payee, key="pay-old")
    assert first.status_code == 201, first.text
    _purge_keys(container, client, pair)
    # Nothing replays now; the transfer id derived from the key still finds the transfer: the same payment again
    # is that transfer, not a second one...
    again = transfer(client, container, a, 700, payee_id=pair.payee, key="pay-old")
    assert again.status_code == 201, again.text
    assert "idempotent-replayed" not in again.headers
    assert again.json()["id"] == first.json()["id"]
    # ...and another payment under the old key is refused, not answered with the old transfer. (The purge comes
    # first each time: with the key's row present, the idempotency layer would refuse the new body itself.)
    for changed in ({"amount": 701}, {"memo": "different"}, {"arrival": "next_day"}):
        _purge_keys(container, client, pair)
        options = {"amount": 700, "memo": None, "arrival": None} | changed
        r = transfer(
            client, container, a, int(str(options["amount"])), payee_id=pair.payee, key="pay-old",
            memo=options["memo"] and str(options["memo"]), arrival=options["arrival"] and str(options["arrival"]),
        )  # fmt: skip
        problem(r, 422, "idempotency_key_reused", "Idempotency-Key")
    assert balance(client, pair.b) == 700
    assert len(statement(client, pair.b).json()["data"]) == 1
    ledger_ok(container)


def test_keys_are_scoped_to_the_customer(client: TestClient, container: Container, pair: Pair, teller) -> None:
    a, b = pair.a, pair.b
    deposit(client, teller, b.account_id, yuan(100))
    b_payee = add_payee(client, b, a.account_id, "Alice")
    assert transfer(client, container, a, 300, payee_id=pair.payee, key="shared").status_code == 201
    r = transfer(client, container, b, 200, payee_id=b_payee, key="shared")
    assert r.status_code == 201, r.text
    assert "idempotent-replayed" not in r.headers and r.json()["amount"] == 200
    assert balance(client, a) == yuan(20_000) - 300 + 200
    assert balance(client, b) == yuan(100) + 300 - 200


# -- step-up ----------------------------------------------------------------------------------------------------


def test_missing_step_up(client: TestClient, container: Container, pair: Pair) -> None:
    a = pair.a
    r = post_transfer(client, a, transfer_body(a, 500, payee_id=pair.payee))
    problem(r, 403, "step_up_required", "step_up")
    _nothing_moved(client, container, pair)


@pytest.mark.parametrize("change", ["amount", "payee", "currency", "code", "challenge"])
def test_step_up_bound_to_something_else_is_refused(
    client: TestClient, container: Container, pair: Pair, teller, change: str
) -> None:
    a = pair.a
    other_payee = add_payee(client, a, open_account(client, pair.b, "USD"), "Bob USD")
    c = step_up(client, container, a, 500, pair.payee)
    if change == "amount":
        c = step_up(client, container, a, 50_000, pair.payee)
    elif change == "payee":
        c = step_up(client, container, a, 500, other_payee)
    elif change == "currency":
        c = step_up(client, container, a, 500, pair.payee, currency="USD")
    elif change == "code":
        c = {**c, "code": "000000" if c["code"] != "000000" else "111111"}
    else:
        c = {**c, "challenge_id": "chl_" + "1" * 26}
    r = post_transfer(client, a, transfer_body(a, 500, payee_id=pair.payee, proof=c))
    problem(r, 403, "step_up_failed")
    _nothing_moved(client, container, pair)


def test_mismatched_proof_burns_the_challenge(client: TestClient, container: Container, pair: Pair) -> None:
    a = pair.a
    proof = step_up(client, container, a, 500, pair.payee)
    r = post_transfer(client, a, transfer_body(a, 501, payee_id=pair.payee, proof=proof))
    problem(r, 403, "step_up_failed")
    # the approval of 5.00 cannot be used any more, not even for the 5.00 it was made for
    r = post_transfer(client, a, transfer_body(a, 500, payee_id=pair.payee, proof=proof))
    problem(r, 403, "step_up_failed")
    _nothing_moved(client, container, pair)


def test_used_step_up_code_cannot_be_reused(client: TestClient, container: Container, pair: Pair) -> None:
    a = pair.a
    proof = step_up(client, container, a, 500, pair.payee)
    assert post_transfer(client, a, transfer_body(a, 500, payee_id=pair.payee, proof=proof)).status_code == 201
    r = post_transfer(client, a, transfer_body(a, 500, payee_id=pair.payee, proof=proof))  # new key, same proof
    problem(r, 403, "step_up_failed")
    assert balance(client, pair.b) == 500
    assert balance(client, a) == yuan(20_000) - 500


def test_expired_step_up_is_refused(client: TestClient, container: Container, pair: Pair) -> None:
    a = pair.a
    proof = step_up(client, container, a, 500, pair.payee)
    container.clock.advance(4 * 60)  # keep the session alive (idle timeout 5 min)
    assert client.get("/v1/accounts", headers=a.headers).status_code == 200
    container.clock.advance(2 * 60)  # the challenge lived 5 minutes
    r = post_transfer(client, a, transfer_body(a, 500, payee_id=pair.payee, proof=proof))
    problem(r, 403, "step_up_failed")
    relogin(client, pair.b)
    _nothing_moved(client, container, pair)


# -- refusals that move nothing ---------------------------------------------------------------------------------


def test_insufficient_funds(client: TestClient, container: Container, signup, teller) -> None:
    relax_rate_limits(container)
    a, b = signup(), signup()
    deposit(client, teller, a.account_id, 1_000)
    payee = add_payee(client, a, b.account_id)
    before = statement(client, a).json()
    r = transfer(client, container, a, 1_001, payee_id=payee, key="too-much")
    problem(r, 402, "insufficient_funds", "amount")
    got = account(client, a)
    assert (got["balance"], got["available"]) == (1_000, 1_000)
    assert balance(client, b) == 0
    assert statement(client, a).json()["data"] == before["data"]
    assert statement(client, b).json()["data"] == []
    ledger_ok(container)
    # the refusal is the key's outcome: a retry replays it without moving money
    r = transfer(client, container, a, 1_001, payee_id=payee, key="too-much")
    problem(r, 402, "insufficient_funds")
    assert r.headers["idempotent-replayed"] == "true"
    # exactly the balance is fine
    assert transfer(client, container, a, 1_000, payee_id=payee).status_code == 201
    assert (balance(client, a), balance(client, b)) == (0, 1_000)
    ledger_ok(container)
    assert container.audit.verify() == []


@pytest.mark.parametrize("amount", [0, -1, -100, 2**63, 2**64, 1.5, 0.01, None, [], {}])
def test_bad_amounts(client: TestClient, container: Container, pair: Pair, amount: object) -> None:
    a = pair.a
    body = transfer_body(a, 1, payee_id=pair.payee, proof={"challenge_id": "chl_" + "1" * 26, "code": "123456"})
    body["amount"] = amount
    problem(post_transfer(client, a, body), 400, "invalid_request", "amount")
    quote = {k: v for k, v in body.items() if k != "step_up"}
    problem(client.post("/v1/transfers/quote", json=quote, headers=a.headers), 400, "invalid_request", "amount")
    _nothing_moved(client, container, pair)


def test_largest_amount_is_accepted_by_validation(client: TestClient, container: Container, pair: Pair) -> None:
    a = pair.a
    r = transfer(client, container, a, 2**63 - 1, payee_id=pair.payee)
    # valid as a number; refused by the limits (cooling-off cap for a new payee)
    problem(r, 402, "limit_exceeded", "amount")
    _nothing_moved(client, container, pair)


@pytest.mark.parametrize("amount", ["100", 100.0, True])
def test_amount_must_be_a_json_integer(client: TestClient, container: Container, pair: Pair, amount: object) -> None:
    a = pair.a
    body = transfer_body(a, 100, payee_id=pair.payee)
    body["amount"] = amount
    problem(post_transfer(client, a, body), 400, "invalid_request", "amount")


def test_currency_mismatch(client: TestClient, container: Container, pair: Pair) -> None:
    a = pair.a
    r = transfer(client, container, a, 500, payee_id=pair.payee, currency="USD")
    problem(r, 400, "currency_mismatch", "currency")
    # a CNY account paying a USD payee
    usd_payee = add_payee(client, a, open_account(client, pair.b, "USD"), "Bob USD")
    r = transfer(client, container, a, 500, payee_id=usd_payee, currency="CNY")
    problem(r, 400, "currency_mismatch", "to_account")
    _nothing_moved(client, container, pair)


def test_to_a_strangers_account_directly_is_not_found(client: TestClient, container: Container, pair: Pair) -> None:
    a = pair.a
    r = transfer(client, container, a, 500, to_account=pair.b.account_id)
    problem(r, 404, "not_found", "to_account")
    r = transfer(client, container, a, 500, to_account="acct_" + "1" * 26)
    problem(r, 404, "not_found", "to_account")
    _nothing_moved(client, container, pair)


def test_from_someone_elses_account_is_not_found(
    client: TestClient, container: Container, pair: Pair, signup, teller
) -> None:
    a, b = pair.a, pair.b
    b_payee = add_payee(client, b, a.account_id, "Alice")
    # B tries to pay out of A's account, to A's account saved as B's payee, with B's own valid step-up
    r = transfer(client, container, b, 500, payee_id=b_payee, from_account=a.account_id)
    problem(r, 404, "not_found")
    _nothing_moved(client, container, pair)


def test_from_someone_elses_account_names_from_account(client: TestClient, container: Container, pair: Pair) -> None:
    b = pair.b
    r = transfer(
        client, container, b, 500, payee_id=add_payee(client, b, pair.a.account_id), from_account=pair.a.account_id
    )
    problem(r, 404, "not_found", "from_account")


@pytest.mark.parametrize("field", ["from_account", "to_account", "payee_id"])
def test_malformed_ids_in_body(client: TestClient, pair: Pair, field: str) -> None:
    a = pair.a
    body = transfer_body(a, 100, payee_id=pair.payee, proof={"challenge_id": "chl_" + "1" * 26, "code": "123456"})
    if field == "to_account":
        del body["payee_id"]
    body[field] = "acct_bad" if field != "payee_id" else "pye_bad"
    problem(post_transfer(client, a, body), 400, "invalid_id", field)


def test_unknown_field_in_body(client: TestClient, pair: Pair) -> None:
    a = pair.a
    body = {**transfer_body(a, 100, payee_id=pair.payee), "fee": 0}
    problem(post_transfer(client, a, body), 400, "unknown_field", "fee")


# -- limits -----------------------------------------------------------------------------------------------------


def test_sms_per_transaction_cap(client: TestClient, container: Container, pair: Pair) -> None:
    a = pair.a
    advance(container, client, 13 * HOUR, a, pair.b)  # past the cooling-off of the payee and of the device
    r = transfer(client, container, a, yuan(10_000) + 1, payee_id=pair.payee)
    body = problem(r, 402, "limit_exceeded", "amount")
    assert "auth:sms" in body["detail"]
    _nothing_moved(client, container, pair)
    r = transfer(client, container, a, yuan(10_000), payee_id=pair.payee)
    assert r.status_code == 201, r.text
    assert balance(client, pair.b) == yuan(10_000)


def test_cooling_off_cap_for_a_new_payee(client: TestClient, container: Container, pair: Pair) -> None:
    a = pair.a
    r = transfer(client, container, a, yuan(5_000) + 1, payee_id=pair.payee)
    body = problem(r, 402, "limit_exceeded", "amount")
    assert "cooling_off" in body["detail"]
    _nothing_moved(client, container, pair)
    advance(container, client, 11 * HOUR, a, pair.b)  # still inside the 12 h of both the payee and the device
    problem(transfer(client, container, a, yuan(5_000) + 1, payee_id=pair.payee), 402, "limit_exceeded")
    advance(container, client, 2 * HOUR, a, pair.b)  # 13 h
    r = transfer(client, container, a, yuan(5_000) + 1, payee_id=pair.payee)
    assert r.status_code == 201, r.text
    assert balance(client, pair.b) == yuan(5_000) + 1


def test_cooling_off_cap_is_inclusive(client: TestClient, container: Container, pair: Pair) -> None:
    r = transfer(client, container, pair.a, yuan(5_000), payee_id=pair.payee)
    assert r.status_code == 201, r.text


def test_cooling_off_after_an_old_payee_but_a_new_payee(client: TestClient, container: Container, pair: Pair,
                                                        signup) -> None:  # fmt: skip
    a = pair.a
    advance(container, client, 13 * HOUR, a)
    c = signup()
    fresh = add_payee(client, a, c.account_id, "Carol")
    problem(transfer(client, container, a, yuan(5_000) + 1, payee_id=fresh), 402, "limit_exceeded")
    assert transfer(client, container, a, yuan(5_000) + 1, payee_id=pair.payee).status_code == 201


def test_daily_limit(client: TestClient, container: Container, pair: Pair, teller) -> None:
    a = pair.a
    advance(container, client, 13 * HOUR, a, pair.b)  # 21:00 in Beijing on 2026-01-01
    for amount in (yuan(4_000), yuan(4_000)):
        assert transfer(client, container, a, amount, payee_id=pair.payee).status_code == 201
    r = transfer(client, container, a, yuan(2_000) + 1, payee_id=pair.payee)
    problem(r, 402, "limit_exceeded", "amount")
    assert balance(client, pair.b) == yuan(8_000)
    assert balance(client, a) == yuan(12_000)
    ledger_ok(container)
    # what is left of the day still fits exactly
    assert transfer(client, container, a, yuan(2_000), payee_id=pair.payee).status_code == 201
    problem(transfer(client, container, a, 1, payee_id=pair.payee), 402, "limit_exceeded")
    # the next day (00:00 Beijing = 16:00Z) the limit is fresh
    advance(container, client, 3 * HOUR + 1, a, pair.b)
    r = transfer(client, container, a, yuan(2_000) + 1, payee_id=pair.payee)
    assert r.status_code == 201, r.text
    assert balance(client, pair.b) == yuan(12_000) + 1
    ledger_ok(container)


def test_cancelled_scheduled_transfer_gives_the_limit_back(
    client: TestClient, container: Container, pair: Pair
) -> None:
    a = pair.a
    advance(container, client, 13 * HOUR, a)
    r = transfer(client, container, a, yuan(10_000), payee_id=pair.payee, arrival="delayed")
    assert r.status_code == 201 and r.json()["status"] == "scheduled"
    problem(transfer(client, container, a, 1, payee_id=pair.payee), 402, "limit_exceeded")
    assert client.post(f"/v1/transfers/{r.json()['id']}/cancel", headers=a.headers).status_code == 200
    assert transfer(client, container, a, yuan(10_000), payee_id=pair.payee).status_code == 201


# -- scheduled arrival ------------------------------------------------------------------------------------------


def test_delayed_transfer_cancel(client: TestClient, container: Container, pair: Pair) -> None:
    a, b = pair.a, pair.b
    r = transfer(client, container, a, yuan(1_000), payee_id=pair.payee, arrival="delayed")
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["status"] == "scheduled" and t["arrival"] == "delayed" and t["arrives_at"] == (START_S + 2 * HOUR) * NS
    got = account(client, a)
    assert got["balance"] == yuan(20_000) and got["available"] == yuan(19_000)
    got_b = account(client, b)
    assert got_b["balance"] == 0 and got_b["available"] == 0 and got_b["pending_in"] == yuan(1_000)
    entries = statement(client, a).json()["data"]
    assert entries[0]["status"] == "pending" and entries[0]["amount"] == yuan(1_000)
    assert entries[0]["transfer"] == t["id"]

    # B (the payee) cannot cancel it
    problem(client.post(f"/v1/transfers/{t['id']}/cancel", headers=b.headers), 404, "not_found")
    r = client.post(f"/v1/transfers/{t['id']}/cancel", headers=a.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["id"] == t["id"]
    got = account(client, a)
    assert got["balance"] == got["available"] == yuan(20_000)
    assert account(client, b)["pending_in"] == 0
    # the voided hold is gone from both statements; cancelling again answers the cancelled transfer
    assert [e["type"] for e in statement(client, a).json()["data"]] == ["deposit"]
    assert statement(client, b).json()["data"] == []
    assert client.post(f"/v1/transfers/{t['id']}/cancel", headers=a.headers).json()["status"] == "cancelled"
    # the scheduler finds nothing to post
    container.clock.advance(3 * HOUR)
    assert container.transfers.post_due() == 0
    assert container.accounts.view(container.accounts.find(_acct_int(b.account_id))).balance == 0
    ledger_ok(container)
    assert container.audit.verify() == []


def test_a_cancel_that_died_after_the_void_is_finished_by_the_scheduler(
    client: TestClient, container: Container, pair: Pair
) -> None:
    a, b = pair.a, pair.b
    t = transfer(client, container, a, yuan(1_000), payee_id=pair.payee, arrival="delayed").json()
    with _server_dies_writing_a_status(container, "before it wrote the cancellation"):
        assert client.post(f"/v1/transfers/{t['id']}/cancel", headers=a.headers).status_code == 500
    assert account(client, a)["available"] == yuan(20_000)  # the holds were voided
    assert client.get(f"/v1/transfers/{t['id']}", headers=a.headers).json()["status"] == "scheduled"
    advance(container, client, 3 * HOUR, a, b)
    assert container.transfers.post_due() == 0  # nothing posted, and the record no longer waits to be
    assert client.get(f"/v1/transfers/{t['id']}", headers=a.headers).json()["status"] == "cancelled"
    assert container.transfers.records.due(container.clock.now_ns()) == []
    assert client.post(f"/v1/transfers/{t['id']}/cancel", headers=a.headers).json()["status"] == "cancelled"
    assert (balance(client, a), balance(client, b)) == (yuan(20_000), 0)
    ledger_ok(container)
    assert container.audit.verify() == []


def _acct_int(public: str) -> int:
    from pocketbank.domain.ids import IdKind, parse_id

    return parse_id(IdKind.ACCOUNT, public)


def test_delayed_transfer_posts_when_due(client: TestClient, container: Container, pair: Pair) -> None:
    a, b = pair.a, pair.b
    r = transfer(client, container, a, yuan(1_000), payee_id=pair.payee, arrival="delayed")
    t = r.json()
    assert t["status"] == "scheduled"
    advance(container, client, HOUR, a, b)
    assert container.transfers.post_due() == 0
    assert balance(client, b) == 0
    advance(container, client, HOUR, a, b)  # exactly 2 h
    assert container.transfers.post_due() == 1
    assert container.transfers.post_due() == 0
    got = client.get(f"/v1/transfers/{t['id']}", headers=a.headers).json()
    assert got["status"] == "posted"
    got_a, got_b = account(client, a), account(client, b)
    assert got_a["balance"] == got_a["available"] == yuan(19_000)
    assert got_b["balance"] == got_b["available"] == yuan(1_000) and got_b["pending_in"] == 0
    inc = statement(client, b).json()["data"]
    assert len(inc) == 1 and inc[0]["status"] == "posted" and inc[0]["amount"] == yuan(1_000)
    assert inc[0]["balance_after"] == yuan(1_000) and inc[0]["transfer"] == t["id"]
    out = statement(client, a).json()["data"]
    assert [(e["type"], e["status"]) for e in out] == [("intra_bank", "posted"), ("deposit", "posted")]
    assert out[0]["amount"] == yuan(1_000) and out[0]["balance_after"] == yuan(19_000)
    # too late to cancel
    r = client.post(f"/v1/transfers/{t['id']}/cancel", headers=a.headers)
    problem(r, 409, "transfer_not_cancellable")
    assert balance(client, b) == yuan(1_000)
    ledger_ok(container)
    assert container.audit.verify() == []


def test_next_day_transfer(client: TestClient, container: Container, pair: Pair) -> None:
    a, b = pair.a, pair.b
    r = transfer(client, container, a, yuan(300), payee_id=pair.payee, arrival="next_day")
    t = r.json()
    assert t["status"] == "scheduled" and t["arrives_at"] == (START_S + 16 * HOUR) * NS
    assert account(client, a)["available"] == yuan(19_700)
    advance(container, client, 16 * HOUR - 1, a, b)  # 23:59:59 in Beijing
    assert container.transfers.post_due() == 0
    assert balance(client, b) == 0
    advance(container, client, 1, a, b)
    assert container.transfers.post_due() == 1
    assert client.get(f"/v1/transfers/{t['id']}", headers=a.headers).json()["status"] == "posted"
    assert (balance(client, a), balance(client, b)) == (yuan(19_700), yuan(300))
    problem(client.post(f"/v1/transfers/{t['id']}/cancel", headers=a.headers), 409, "transfer_not_cancellable")
    ledger_ok(container)


def test_real_time_transfer_is_not_cancellable(client: TestClient, container: Container, pair: Pair) -> None:
    t = transfer(client, container, pair.a, 100, payee_id=pair.payee).json()
    problem(client.post(f"/v1/transfers/{t['id']}/cancel", headers=pair.a.headers), 409, "transfer_not_cancellable")
    assert balance(client, pair.b) == 100


def test_cancel_after_posting_is_409(client: TestClient, container: Container, pair: Pair) -> None:
    t = transfer(client, container, pair.a, 100, payee_id=pair.payee).json()
    problem(client.post(f"/v1/transfers/{t['id']}/cancel", headers=pair.a.headers), 409, "transfer_not_cancellable")


def test_get_and_cancel_unknown_or_malformed_transfer(client: TestClient, pair: Pair) -> None:
    a = pair.a
    unknown = "tr_" + "1" * 26
    problem(client.get(f"/v1/transfers/{unknown}", headers=a.headers), 404, "not_found", "transfer_id")
    problem(client.post(f"/v1/transfers/{unknown}/cancel", headers=a.headers), 404, "not_found", "transfer_id")
    problem(client.get("/v1/transfers/acct_" + "1" * 26, headers=a.headers), 400, "invalid_id", "transfer_id")


def test_foreign_currency_transfer(client: TestClient, container: Container, pair: Pair, teller) -> None:
    a, b = pair.a, pair.b
    usd_a, usd_b = open_account(client, a, "USD"), open_account(client, b, "USD")
    deposit(client, teller, usd_a, 10_000)
    payee = add_payee(client, a, usd_b, "Bob USD")
    q = client.post("/v1/transfers/quote", json={"from_account": usd_a, "payee_id": payee, "amount": 2_500,
                                                  "currency": "USD"}, headers=a.headers)  # fmt: skip
    assert q.status_code == 200, q.text
    r = transfer(client, container, a, 2_500, payee_id=payee, from_account=usd_a, currency="USD")
    assert r.status_code == 201, r.text
    assert (balance(client, a, usd_a), balance(client, b, usd_b)) == (7_500, 2_500)


# -- transaction history ----------------------------------------------------------------------------------------


@pytest.fixture
def history(client: TestClient, container: Container, pair: Pair, teller) -> Pair:
    """A's CNY account: a deposit, then outgoing 1.00, 2.00, ... 7.00 to B, B pays 0.50 back, another deposit."""
    a, b = pair.a, pair.b
    for i in range(1, 8):
        container.clock.advance(1)
        assert transfer(client, container, a, i * 100, payee_id=pair.payee).status_code == 201
    b_payee = add_payee(client, b, a.account_id, "Alice")
    assert transfer(client, container, b, 50, payee_id=b_payee).status_code == 201
    deposit(client, teller, a.account_id, 9_999)
    return pair


def _all(client: TestClient, cust: SignedUp, **params: object) -> list[dict]:
    r = statement(client, cust, limit=100, **params)
    assert r.status_code == 200, r.text
    assert r.json()["has_more"] is False
    return r.json()["data"]


def test_history_full_and_balances(client: TestClient, history: Pair) -> None:
    entries = _all(client, history.a)
    assert [e["type"] for e in entries] == ["deposit", "intra_bank"] + ["intra_bank"] * 7 + ["deposit"]
    created = [e["created"] for e in entries]
    assert created == sorted(created, reverse=True) and len(set(created)) == len(created)
    assert len({e["id"] for e in entries}) == len(entries)
    # balance_after chains from the oldest entry to the newest
    running = 0
    for e in reversed(entries):
        running += e["amount"] if e["direction"] == "in" else -e["amount"]
        assert e["balance_after"] == running
    assert running == balance(client, history.a)


def test_history_filters(client: TestClient, history: Pair) -> None:
    a = history.a
    full = _all(client, a)
    ins = _all(client, a, direction="in")
    outs = _all(client, a, direction="out")
    assert all(e["direction"] == "in" for e in ins) and all(e["direction"] == "out" for e in outs)
    assert sorted(e["id"] for e in ins + outs) == sorted(e["id"] for e in full)
    assert [e["amount"] for e in outs] == [700, 600, 500, 400, 300, 200, 100]

    deposits = _all(client, a, type="deposit")
    assert [e["amount"] for e in deposits] == [9_999, yuan(20_000)]
    both = _all(client, a, type=["deposit", "intra_bank"])
    assert len(both) == len(full)
    assert [e["amount"] for e in _all(client, a, type="intra_bank", direction="in")] == [50]
    assert _all(client, a, type="reversal") == []

    assert [e["amount"] for e in _all(client, a, amount_gte=300, amount_lte=600)] == [600, 500, 400, 300]
    assert [e["amount"] for e in _all(client, a, amount_gte=9_999)] == [9_999, yuan(20_000)]
    assert [e["amount"] for e in _all(client, a, amount_lte=100)] == [50, 100]
    assert _all(client, a, amount_gte=601, amount_lte=699) == []

    # created_gte / created_lte are inclusive bounds in ns
    mid = full[3:7]
    got = _all(client, a, created_gte=mid[-1]["created"], created_lte=mid[0]["created"])
    assert [e["id"] for e in got] == [e["id"] for e in mid]
    assert [e["id"] for e in _all(client, a, created_gte=full[1]["created"])] == [e["id"] for e in full[:2]]
    assert [e["id"] for e in _all(client, a, created_lte=full[-2]["created"])] == [e["id"] for e in full[-2:]]
    assert _all(client, a, created_gte=full[0]["created"] + 1) == []


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 10, 11])
def test_history_pagination_covers_everything_once(client: TestClient, history: Pair, limit: int) -> None:
    a = history.a
    full = _all(client, a)
    seen: list[str] = []
    after = None
    for _ in range(20):
        params: dict[str, object] = {"limit": limit}
        if after:
            params["starting_after"] = after
        page = statement(client, a, **params).json()
        assert len(page["data"]) <= limit
        seen += [e["id"] for e in page["data"]]
        if not page["has_more"]:
            break
        assert len(page["data"]) == limit
        after = page["data"][-1]["id"]
    assert seen == [e["id"] for e in full]


def test_history_pagination_with_a_filter(client: TestClient, history: Pair) -> None:
    a = history.a
    want = [e["id"] for e in _all(client, a, direction="out")]
    seen: list[str] = []
    after = None
    while True:
        params: dict[str, object] = {"limit": 2, "direction": "out"}
        if after:
            params["starting_after"] = after
        page = statement(client, a, **params).json()
        seen += [e["id"] for e in page["data"]]
        if not page["has_more"]:
            break
        after = page["data"][-1]["id"]
    assert seen == want


def test_history_bad_requests(client: TestClient, history: Pair, signup) -> None:
    a, b = history.a, history.b
    problem(statement(client, a, type="bogus"), 400, "invalid_parameter", "type")
    problem(statement(client, a, type=["deposit", "bogus"]), 400, "invalid_parameter", "type")
    problem(statement(client, a, direction="sideways"), 400, "invalid_request", "query.direction")
    problem(statement(client, a, limit=0), 400, "invalid_request", "query.limit")
    problem(statement(client, a, limit=101), 400, "invalid_request", "query.limit")
    problem(statement(client, a, amount_gte=-1), 400, "invalid_request", "query.amount_gte")
    problem(statement(client, a, starting_after="nope"), 400, "invalid_id", "starting_after")
    # an entry of another account is no cursor for this one
    b_entry = statement(client, b).json()["data"][0]["id"]
    c = signup()
    problem(statement(client, c, starting_after=b_entry), 400, "invalid_id", "starting_after")
    # someone else's account
    problem(statement(client, b, a.account_id), 404, "not_found", "account_id")


def test_history_created_lte_zero_is_empty(client: TestClient, history: Pair) -> None:
    assert _all(client, history.a, created_lte=0) == []


def test_a_refused_step_up_does_not_use_up_the_idempotency_key(
    client: TestClient, container: Container, pair: Pair
) -> None:
    """A mistyped code leaves no trace: the retry with the same key and a correct proof is judged afresh."""
    a = pair.a
    bad = {**step_up(client, container, a, 500, pair.payee), "code": "000000"}
    key = new_key()
    r = post_transfer(client, a, transfer_body(a, 500, payee_id=pair.payee, proof=bad), key)
    if r.status_code != 403:  # the drawn code happened to be 000000
        bad = {**bad, "code": "111111"}
        key = new_key()
        r = post_transfer(client, a, transfer_body(a, 500, payee_id=pair.payee, proof=bad), key)
    problem(r, 403, "step_up_failed")
    good = step_up(client, container, a, 500, pair.payee)
    r = post_transfer(client, a, transfer_body(a, 500, payee_id=pair.payee, proof=good), key)
    assert r.status_code == 201, r.text
    assert r.headers.get("idempotent-replayed") is None
    assert balance(client, pair.b) == 500
