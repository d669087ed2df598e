"""Concurrent transfers written together (``services.transfer_submit``), on both engines: every request keeps its own
outcome, audit record, event and stored answer, whatever else shares its batch.

The writer thread is held at the start of a first batch while more requests queue behind it, so the second batch
holds all of them: the batch is made, not hoped for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
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

from pocketbank.bootstrap import Container, build_container
from pocketbank.config import Settings
from pocketbank.domain.clock import ManualClock
from pocketbank.domain.ids import IdKind, format_id, parse_id
from pocketbank.domain.transfers import TransferStatus, transfer_id_for
from pocketbank.services.transfer_effects import system_principal
from pocketbank.services.transfer_submit import Submission, Submitted


def _held_batches(container: Container) -> tuple[list[int], threading.Event, threading.Event]:
    """Batch sizes as the writer takes them; the first batch waits for ``release`` after setting ``entered``."""
    submitter = container.transfers.effects.submitter
    write = submitter.submit_many
    sizes: list[int] = []
    entered, release = threading.Event(), threading.Event()

    def held(batch: Sequence[Submission], handoff: Callable[[], None] | None = None) -> list[Submitted]:
        sizes.append(len(batch))
        if len(sizes) == 1:
            entered.set()
            assert release.wait(30)
        return write(batch, handoff)

    submitter.submit_many = held  # type: ignore[method-assign]
    return sizes, entered, release


Send = tuple[SignedUp, dict[str, Any], str]  # who, the body, the Idempotency-Key


def _behind_a_held_batch(
    client: TestClient, container: Container, holder: Send, queued: list[Send]
) -> tuple[list[int], list[Any]]:
    """Send ``holder``; while the writer holds its batch, send ``queued`` and let go once they have all queued.
    The batch sizes the writer took, and every response, ``holder``'s first."""
    sizes, entered, release = _held_batches(container)
    with ThreadPoolExecutor(max_workers=1 + len(queued)) as pool:
        answers = [pool.submit(post_transfer, client, *holder)]
        assert entered.wait(30)
        answers += [pool.submit(post_transfer, client, *q) for q in queued]
        deadline = time.monotonic() + 30
        while _queued(container) < len(queued):
            assert time.monotonic() < deadline, "the requests never queued"
            time.sleep(0.01)
        release.set()
        return sizes, [f.result() for f in answers]


def _database_gone(*args: object, **kwargs: object) -> set[int]:
    raise RuntimeError("the database went away")


def _queued(container: Container) -> int:
    batches = container.transfers.effects.submitter._batches
    assert batches is not None
    return batches._queue.qsize()


def test_requests_queued_behind_a_batch_go_together_and_keep_their_own_outcomes(
    client: TestClient, container: Container, signup: Callable[..., SignedUp], teller: dict[str, str]
) -> None:
    relax_rate_limits(container)
    a, b, c, d = signup(), signup(), signup(), signup()
    for cust, amount in ((a, yuan(10_000)), (c, yuan(50)), (d, yuan(1_000))):
        deposit(client, teller, cust.account_id, amount)
    payees = {cust.id: add_payee(client, cust, b.account_id) for cust in (a, c, d)}

    def body(cust: SignedUp, amount: int) -> dict[str, Any]:
        proof = step_up(client, container, cust, amount, payees[cust.id])
        return transfer_body(cust, amount, payee_id=payees[cust.id], proof=proof)

    first = (a, body(a, yuan(100)), "first")
    queued = [
        (a, body(a, yuan(200)), "a-200"),  # two of one customer's records in one batch: one audit stream
        (a, body(a, yuan(300)), "a-300"),
        (c, body(c, yuan(100)), "c-overdraws"),  # 50.00 in the account: refused, the others go through
        (d, body(d, yuan(400)), "d-400"),
    ]
    sizes, results = _behind_a_held_batch(client, container, first, queued)
    assert sizes == [1, 4]
    assert [r.status_code for r in results] == [201, 201, 201, 402, 201], [r.text for r in results]
    assert results[3].json()["code"] == "insufficient_funds"
    assert balance(client, a) == yuan(10_000 - 600)
    assert (balance(client, c), balance(client, d)) == (yuan(50), yuan(600))
    assert balance(client, b) == yuan(1_000)
    made = [r.json() for r in results if r.status_code == 201]
    assert [(t["amount"], t["status"]) for t in made] == [(yuan(n), "posted") for n in (100, 200, 300, 400)]
    # Each transfer's own audit record and event; the refused one's record says so, with no event.
    created = [e.record.subject for e in container.audit.entries() if e.record.action == "transfer.created"]
    assert sorted(created) == sorted(t["id"] for t in made)
    assert [e.record.detail["result"] for e in container.audit.entries() if e.record.action == "transfer.failed"] == [
        "exceeds_credits"
    ]
    events = [e.data["transfer"] for e in container.outbox.undispatched() if e.type == "transfer.created"]
    assert sorted(events) == sorted(t["id"] for t in made)
    assert container.audit.verify() == []
    ledger_ok(container)
    # Each stored answer is its own request's: a retry of each replays exactly it.
    for (cust, sent, key), result in zip([first, *queued], results, strict=True):
        again = post_transfer(client, cust, sent, key)
        assert (again.status_code, again.content) == (result.status_code, result.content)


def test_a_batch_that_fails_as_a_whole_fails_each_request_and_their_retries_finish_it(
    client: TestClient, container: Container, signup: Callable[..., SignedUp], teller: dict[str, str]
) -> None:
    """The outcomes' unit of work fails (the database went away): every request of the batch gets a 500, the money
    moved once, and each retry finishes its own transfer."""
    relax_rate_limits(container)
    a, b, c = signup(), signup(), signup()
    for cust in (a, c):
        deposit(client, teller, cust.account_id, yuan(1_000))
    payees = {cust.id: add_payee(client, cust, b.account_id) for cust in (a, c)}
    sends = []
    for cust, amount in ((a, yuan(100)), (a, yuan(200)), (c, yuan(300))):
        proof = step_up(client, container, cust, amount, payees[cust.id])
        sends.append((cust, transfer_body(cust, amount, payee_id=payees[cust.id], proof=proof), f"k-{amount}"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(container.transfers.effects.records, "set_status_many", _database_gone)
        sizes, results = _behind_a_held_batch(client, container, sends[0], sends[1:])
    assert [r.status_code for r in results] == [500, 500, 500]
    assert sizes == [1, 2]
    assert balance(client, b) == yuan(600)  # the chains applied before the outcomes failed
    retried = [post_transfer(client, *s) for s in sends]
    assert [(r.status_code, r.json()["status"]) for r in retried] == [(201, "posted")] * 3
    assert (balance(client, a), balance(client, c), balance(client, b)) == (yuan(700), yuan(700), yuan(600))
    created = [e for e in container.audit.entries() if e.record.action == "transfer.created"]
    assert sorted(e.record.subject for e in created) == sorted(r.json()["id"] for r in retried)
    assert container.audit.verify() == []
    ledger_ok(container)


@pytest.fixture
def unbatched(db_url: str, clock: ManualClock) -> Any:
    settings = Settings(
        database_url=db_url,
        transfer_batch_writers=0,
        password_hash_profile="fast",
        sms_sender="memory",
        redis_url=None,
    )
    with build_container(settings, clock=clock) as c:
        yield c


def test_without_writer_threads_each_request_writes_its_own_transfer(unbatched: Container) -> None:
    """``POCKETBANK_TRANSFER_BATCH_WRITERS=0``: the same steps, in the request's own thread."""
    from auth_helpers import register_customer, staff_headers

    from pocketbank.api.app import create_app

    with TestClient(create_app(unbatched), raise_server_exceptions=False) as client:
        assert unbatched.transfers.effects.submitter._batches is None
        teller = staff_headers(client, unbatched)
        a, b = register_customer(client, unbatched), register_customer(client, unbatched)
        deposit(client, teller, a.account_id, yuan(1_000))
        payee = add_payee(client, a, b.account_id)
        proof = step_up(client, unbatched, a, yuan(250), payee)
        r = post_transfer(client, a, transfer_body(a, yuan(250), payee_id=payee, proof=proof), "solo")
        assert (r.status_code, r.json()["status"]) == (201, "posted"), r.text
        assert (balance(client, a), balance(client, b)) == (yuan(750), yuan(250))
        ledger_ok(unbatched)


def test_one_transfer_twice_in_a_batch_is_finished_once(
    client: TestClient, container: Container, signup: Callable[..., SignedUp], teller: dict[str, str]
) -> None:
    """A retry and the scheduler can resume the same ``processing`` transfer at once, and land in one batch: the
    first writes the outcome, its audit record and its event; the second answers with what the first wrote."""
    a, b = signup(), signup()
    deposit(client, teller, a.account_id, yuan(1_000))
    payee = add_payee(client, a, b.account_id)
    proof = step_up(client, container, a, yuan(100), payee)
    effects = container.transfers.effects
    with pytest.MonkeyPatch.context() as mp:
        for write in ("set_status", "set_status_many"):
            mp.setattr(effects.records, write, _database_gone)
        r = post_transfer(client, a, transfer_body(a, yuan(100), payee_id=payee, proof=proof), "twice")
        assert r.status_code == 500
    (record,) = effects.records.stalled(before=container.clock.now_ns())
    system = system_principal(record)
    first, second = effects.submitter.submit_many([Submission(system, record), Submission(system, record)])
    assert first.error is None and first.record is not None and first.record.status is TransferStatus.POSTED
    assert second == Submitted(None)
    assert effects.records.get(record.id) == first.record
    subject = format_id(IdKind.TRANSFER, record.id)
    assert [e.record.action for e in container.audit.entries() if e.record.subject == subject] == ["transfer.created"]
    assert [e.data["transfer"] for e in container.outbox.undispatched() if e.type == "transfer.created"] == [subject]
    assert balance(client, b) == yuan(100)
    ledger_ok(container)


def _steps_up_twice(
    client: TestClient, container: Container, signup: Callable[..., SignedUp], teller: dict[str, str]
) -> tuple[SignedUp, SignedUp, str, dict[str, Any]]:
    """A funded customer, a payee, and one transfer's body whose SMS proof two requests will both present."""
    relax_rate_limits(container)
    a, b = signup(), signup()
    deposit(client, teller, a.account_id, yuan(1_000))
    payee = add_payee(client, a, b.account_id)
    proof = step_up(client, container, a, yuan(100), payee)
    return a, b, payee, transfer_body(a, yuan(100), payee_id=payee, proof=proof)


def _verified(container: Container) -> list[str]:
    return [e.record.subject for e in container.audit.entries() if e.record.action == "stepup.verified"]


@pytest.mark.parametrize("together", [False, True], ids=["in turn", "in one batch"])
def test_a_proof_checked_by_two_requests_approves_one_transfer(
    client: TestClient,
    container: Container,
    signup: Callable[..., SignedUp],
    teller: dict[str, str],
    together: bool,
) -> None:
    """An SMS proof is checked by the request and spent with the record, in the batch: a replay under another key
    that passed the check before the first was spent is refused there, records nothing and moves nothing, whether
    it lands in the next batch or beside the original in the same one."""
    a, b, payee, sent = _steps_up_twice(client, container, signup, teller)
    if together:  # an unrelated transfer holds the writer; both requests queue behind it
        c = signup()
        deposit(client, teller, c.account_id, yuan(10))
        c_payee = add_payee(client, c, b.account_id)
        c_body = transfer_body(c, yuan(1), payee_id=c_payee, proof=step_up(client, container, c, yuan(1), c_payee))
        holder, queued = (c, c_body, "c"), [(a, sent, "original"), (a, sent, "replay")]
    else:  # the original holds the writer, its proof not yet spent; the replay passes the check and queues
        holder, queued = (a, sent, "original"), [(a, sent, "replay")]
    sizes, results = _behind_a_held_batch(client, container, holder, queued)
    assert sizes == ([1, 2] if together else [1, 1])
    mine = dict(zip(("original", "replay"), results[-2:], strict=True))
    assert sorted(r.status_code for r in mine.values()) == [201, 403], [r.text for r in mine.values()]
    refused_key = next(k for k, r in mine.items() if r.status_code == 403)
    assert mine[refused_key].json()["code"] == "step_up_failed"
    assert (balance(client, a), balance(client, b)) == (yuan(900), yuan(100 + (1 if together else 0)))
    customer = parse_id(IdKind.CUSTOMER, a.id)
    assert container.transfers.records.get(transfer_id_for(customer, refused_key)) is None
    assert _verified(container).count(sent["step_up"]["challenge_id"]) == 1
    # The refusal left no trace under its key: with a fresh proof it is a new transfer.
    fresh = transfer_body(a, yuan(100), payee_id=payee, proof=step_up(client, container, a, yuan(100), payee))
    assert post_transfer(client, a, fresh, refused_key).status_code == 201
    assert container.audit.verify() == []
    ledger_ok(container)


def test_a_proof_is_not_spent_when_its_transfer_could_not_be_recorded(
    client: TestClient, container: Container, signup: Callable[..., SignedUp], teller: dict[str, str]
) -> None:
    """The proof and the record commit together: a batch that fails before it commits spends nothing, so the retry
    with the same proof goes through, and the proof is audited as verified once."""
    a, b, _, sent = _steps_up_twice(client, container, signup, teller)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(container.transfers.effects.records, "insert_many", _database_gone)
        assert post_transfer(client, a, sent, "k").status_code == 500
    assert _verified(container) == []
    again = post_transfer(client, a, sent, "k")
    assert (again.status_code, again.json()["status"]) == (201, "posted"), again.text
    assert _verified(container) == [sent["step_up"]["challenge_id"]]
    assert (balance(client, a), balance(client, b)) == (yuan(900), yuan(100))
    ledger_ok(container)
