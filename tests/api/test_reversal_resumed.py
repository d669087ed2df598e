"""A supervisor's reversal that a crash cuts short is finished: by the supervisor's retry, or by the scheduler.

The reversal is recorded (``reversing``, with its reason) before its chain goes to the ledger, so whatever point
the request dies at, the record never says ``posted`` while the money has gone back: it says ``reversing`` until
someone finishes it, and the money moves back exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from auth_helpers import SignedUp, staff_headers
from fastapi.testclient import TestClient
from money_helpers import add_payee, advance, balance, deposit, ledger_ok, problem, statement, transfer, yuan

from pocketbank.bootstrap import Container
from pocketbank.domain.accounts import TransferCode
from pocketbank.domain.principals import StaffRole
from pocketbank.domain.transfers import TransferStatus

Posted = tuple[SignedUp, SignedUp, dict[str, Any]]


@contextmanager
def _server_dies(container: Container, where: str) -> Iterator[None]:
    """Within the block the server dies ``before the ledger`` (as the reversal chain is sent) or ``after the
    ledger`` (as it writes the reversal's outcome). Recording the reversal, before both, goes through."""
    effects = container.transfers.effects
    send, set_status = effects.ledger.create_transfers, effects.records.set_status

    def sending(transfers: list[Any]) -> object:
        if where == "before the ledger" and any(t.code == TransferCode.REVERSAL for t in transfers):
            raise RuntimeError("the server died before the ledger")
        return send(transfers)

    def writing(tx: object, transfer_id: int, status: TransferStatus, *args: Any, **kwargs: Any) -> bool:
        if where == "after the ledger" and status is not TransferStatus.REVERSING:
            raise RuntimeError("the server died after the ledger")
        return set_status(tx, transfer_id, status, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(effects.ledger, "create_transfers", sending)
        mp.setattr(effects.records, "set_status", writing)
        yield


def _reverse(client: TestClient, supervisor: dict[str, str], t: dict[str, Any], reason: str) -> Any:
    return client.post(f"/v1/staff/transfers/{t['id']}/reverse", json={"reason": reason}, headers=supervisor)


def _status(client: TestClient, cust: SignedUp, t: dict[str, Any]) -> tuple[str, str]:
    body = client.get(f"/v1/transfers/{t['id']}", headers=cust.headers).json()
    return body["status"], body["reason"]


def _actions(container: Container, t: dict[str, Any]) -> list[str]:
    return [e.record.action for e in container.audit.entries() if e.record.subject == t["id"]]


def _reversal_entries(client: TestClient, cust: SignedUp) -> list[tuple[str, int]]:
    return [(e["direction"], e["amount"]) for e in statement(client, cust, type="reversal").json()["data"]]


@pytest.mark.parametrize("where", ["before the ledger", "after the ledger"])
def test_the_scheduler_finishes_a_reversal_whose_request_died(
    client: TestClient, container: Container, posted: Posted, supervisor: dict[str, str], where: str
) -> None:
    a, b, t = posted
    with _server_dies(container, where):
        assert _reverse(client, supervisor, t, "fraud report #9").status_code == 500
    moved = where == "after the ledger"
    assert _status(client, a, t) == ("reversing", "fraud report #9")  # never "posted" with the money back
    assert (balance(client, a), balance(client, b)) == ((yuan(1_000), 0) if moved else (yuan(700), yuan(300)))
    assert container.transfers.resume_stalled() == 0  # the request may still be running: not yet
    advance(container, client, 3 * 60, a, b)
    assert container.transfers.resume_stalled() == 1
    assert container.transfers.resume_stalled() == 0
    assert _status(client, a, t) == ("reversed", "fraud report #9")
    assert (balance(client, a), balance(client, b)) == (yuan(1_000), 0)
    assert _reversal_entries(client, a) == [("in", yuan(300))]  # back once
    assert _reversal_entries(client, b) == [("out", yuan(300))]
    assert _actions(container, t).count("transfer.reversed") == 1
    assert [e.type for e in container.outbox.undispatched()].count("transfer.reversed") == 1
    ledger_ok(container)
    assert container.audit.verify() == []


def test_the_supervisors_retry_finishes_it_too(
    client: TestClient, container: Container, posted: Posted, supervisor: dict[str, str]
) -> None:
    a, b, t = posted
    with _server_dies(container, "after the ledger"):
        assert _reverse(client, supervisor, t, "fraud report #9").status_code == 500
    again = _reverse(client, supervisor, t, "fraud report #9, again")
    assert again.status_code == 200, again.text
    # The retry joined the recorded reversal: its reason is the first request's.
    assert (again.json()["status"], again.json()["reason"]) == ("reversed", "fraud report #9")
    assert (balance(client, a), balance(client, b)) == (yuan(1_000), 0)
    assert _reversal_entries(client, a) == [("in", yuan(300))]
    problem(_reverse(client, supervisor, t, "a third time"), 409, "transfer_not_reversible")
    assert container.transfers.resume_stalled() == 0
    ledger_ok(container)


def test_a_cut_short_reversal_the_ledger_then_refuses_goes_back_to_posted(
    client: TestClient, container: Container, posted: Posted, supervisor: dict[str, str], signup
) -> None:
    """The request died before the ledger; by the time the scheduler carries it out, the payee has spent the
    money: the reversal is refused, the transfer is posted again, and the refusal is audited. Once the payee has
    the money again, a new request reverses it."""
    a, b, t = posted
    with _server_dies(container, "before the ledger"):
        assert _reverse(client, supervisor, t, "fraud report #9").status_code == 500
    c = signup()
    assert transfer(client, container, b, yuan(250), payee_id=add_payee(client, b, c.account_id)).status_code == 201
    advance(container, client, 3 * 60, a, b)
    assert container.transfers.resume_stalled() == 1
    assert _status(client, a, t) == ("posted", "")
    assert (balance(client, a), balance(client, b)) == (yuan(700), yuan(50))
    assert _actions(container, t)[-2:] == ["transfer.reversal_requested", "transfer.reversal_refused"]
    assert container.transfers.resume_stalled() == 0
    # The staff sessions idled out while the clock moved on: log in afresh.
    supervisor_now = staff_headers(client, container, username="super2", role=StaffRole.SUPERVISOR)
    deposit(client, staff_headers(client, container, username="teller2"), b.account_id, yuan(250))
    r = _reverse(client, supervisor_now, t, "fraud report #9")
    assert r.status_code == 200, r.text
    assert (balance(client, a), balance(client, b)) == (yuan(1_000), 0)
    ledger_ok(container)
    assert container.audit.verify() == []


def test_a_refused_reversal_is_audited_and_leaves_the_transfer_posted(
    client: TestClient, container: Container, posted: Posted, supervisor: dict[str, str], signup
) -> None:
    a, b, t = posted
    c = signup()
    assert transfer(client, container, b, yuan(250), payee_id=add_payee(client, b, c.account_id)).status_code == 201
    problem(_reverse(client, supervisor, t, "fraud report"), 402, "insufficient_funds")
    assert _status(client, a, t) == ("posted", "")
    assert _actions(container, t)[-2:] == ["transfer.reversal_requested", "transfer.reversal_refused"]
    assert "transfer.reversal_refused" not in [e.type for e in container.outbox.undispatched()]
    advance(container, client, 3 * 60, a)
    assert container.transfers.resume_stalled() == 0  # nothing left reversing


def test_a_reversal_that_applies_after_another_was_refused_still_ends_reversed(
    client: TestClient, container: Container, posted: Posted, supervisor: dict[str, str], signup, teller
) -> None:
    """The race: the scheduler read the record while it was reversing; then the supervisor's request was refused
    and put it back to posted; then the payee got the money again and the scheduler's attempt applied. The ledger
    has decided, so the record says reversed, not posted."""
    a, b, t = posted
    with _server_dies(container, "before the ledger"):
        assert _reverse(client, supervisor, t, "fraud report #9").status_code == 500
    records = container.transfers.effects.records
    (seen_reversing,) = [r for r in records.stalled(container.clock.now_ns()) if r.status is TransferStatus.REVERSING]
    c = signup()
    assert transfer(client, container, b, yuan(250), payee_id=add_payee(client, b, c.account_id)).status_code == 201
    problem(_reverse(client, supervisor, t, "fraud report #9"), 402, "insufficient_funds")  # joined, refused
    assert _status(client, a, t) == ("posted", "")
    deposit(client, teller, b.account_id, yuan(250))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(records, "stalled", lambda before, limit=100: [seen_reversing])
        assert container.transfers.resume_stalled() == 1
    assert _status(client, a, t) == ("reversed", "fraud report #9")
    assert (balance(client, a), balance(client, b)) == (yuan(1_000), 0)
    assert _actions(container, t)[-1] == "transfer.reversed"
    ledger_ok(container)
    assert container.audit.verify() == []


def test_a_reversal_that_lost_the_race_to_one_refused_meanwhile_goes_ahead(
    client: TestClient, container: Container, posted: Posted, supervisor: dict[str, str]
) -> None:
    """Between reading the transfer and recording the reversal, another supervisor's reversal started (so the
    record was not posted) and was refused (so it is posted again): this one records itself and goes ahead,
    rather than answer that only a posted transfer can be reversed."""
    a, b, t = posted
    records = container.transfers.effects.records
    set_status = records.set_status
    lost: list[bool] = []

    def loses_once(tx: object, transfer_id: int, status: TransferStatus, *args: Any, **kwargs: Any) -> bool:
        if status is TransferStatus.REVERSING and not lost:
            lost.append(True)
            return False  # the other reversal held it; by the time we look again, it was refused
        return set_status(tx, transfer_id, status, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(records, "set_status", loses_once)
        r = _reverse(client, supervisor, t, "fraud report #9")
    assert r.status_code == 200, r.text
    assert lost == [True] and r.json()["status"] == "reversed"
    assert (balance(client, a), balance(client, b)) == (yuan(1_000), 0)
