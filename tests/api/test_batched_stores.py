"""The stores' many-row writes (``insert_many``, ``set_status_many``, ``append_many``, ``add_many``), on both engines:
what each writes is what the one-row write would have, one after another; on PostgreSQL it goes in one statement
(``storage.bulk``) once there are two rows or more, which every test here has."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from pocketbank.bootstrap import Container
from pocketbank.domain.audit import AuditRecord
from pocketbank.domain.events import DomainEvent
from pocketbank.domain.ledger import Transfer
from pocketbank.domain.transfers import ChainLeg, StatusChange, TransferRecord, TransferStatus
from pocketbank.storage.audit import SqlAuditLog
from pocketbank.storage.money_tables import transfer_records

BIG = 2**127  # ids that need every byte of an Id128

P, F, S = TransferStatus.PROCESSING, TransferStatus.FAILED, TransferStatus.SCHEDULED


def transfer_record(n: int, **changes: object) -> TransferRecord:
    leg = ChainLeg("payment", Transfer(BIG + 100 + n, BIG + 1, BIG + 2, 100 * n, 156, 1, user_data_128=BIG + n))
    made = TransferRecord(
        id=BIG + n,
        customer_id=BIG + 7,
        from_account=BIG + 1,
        to_account=BIG + 2,
        amount=100 * n,
        currency="CNY",
        fee=0,
        fee_rule="v1:intra_bank_transfer:mobile",
        channel="mobile",
        auth_method="sms",
        arrival="real_time",
        status=P,
        created_at=1_000 + n,
        scheduled_for=None if n % 2 else 9_000,
        payee_id=None if n % 2 else BIG + 9,
        memo=f'rent, 房租 {n}; it\'s "quoted" {{braced}}',  # text that an unquoted array literal would break
        legs=(leg,),
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def test_records_go_in_once_and_move_only_from_the_status_expected(container: Container) -> None:
    records = container.transfers.records
    with container.uow.begin() as tx:
        records.insert_many(tx, [transfer_record(1), transfer_record(2)])
    with container.uow.begin() as tx:
        # A record already there stays as it was; the new one goes in.
        records.insert_many(tx, [transfer_record(1, status=F, memo="changed"), transfer_record(3)])
    assert [records.get(BIG + n) for n in (1, 2, 3)] == [transfer_record(n) for n in (1, 2, 3)]

    changes = [
        StatusChange(BIG + 1, TransferStatus.POSTED, P),
        StatusChange(BIG + 2, TransferStatus.POSTED, S),  # it is processing, not scheduled: it does not move
        StatusChange(BIG + 3, F, P, "payment/exceeds_credits"),
        StatusChange(BIG + 4, F, P, "no such record"),
    ]
    with container.uow.begin() as tx:
        moved = records.set_status_many(tx, changes, at=5_000)
    assert moved == {BIG + 1, BIG + 3}
    assert [(r.status, r.reason) for r in (records.get(BIG + n) for n in (1, 2, 3)) if r] == [
        (TransferStatus.POSTED, ""),
        (P, ""),
        (F, "payment/exceeds_credits"),
    ]
    with container.engine.connect() as conn:  # when the status last changed: what the scheduler reads
        at = {r.id: r.status_at for r in conn.execute(select(transfer_records.c.id, transfer_records.c.status_at))}
    assert at == {BIG + 1: 5_000, BIG + 2: None, BIG + 3: 5_000}


def test_many_records_roll_back_with_their_unit_of_work(container: Container) -> None:
    records = container.transfers.records
    with pytest.raises(RuntimeError), container.uow.begin() as tx:
        records.insert_many(tx, [transfer_record(1), transfer_record(2)])
        raise RuntimeError("the use case failed")
    assert records.get(BIG + 1) is None and records.get(BIG + 2) is None


def audit(n: int, actor: str) -> AuditRecord:
    return AuditRecord("customer", actor, "test.done", f"tr_{n}", "mobile", "sms", at=1_000 + n, detail={"n": n})


def test_many_audit_records_keep_every_chain_whole(container: Container) -> None:
    """Cached heads (A, C), a head another worker's log overtook (B), two records for one stream (C) and a stream
    with no head cached (D), in one call: every record lands once, in order within its stream, on one chain."""
    log, other = container.audit, SqlAuditLog(container.engine)
    with container.uow.begin() as tx:
        log.append_many(tx, [audit(1, "A"), audit(2, "B"), audit(3, "C")])  # heads cached: A, B and C at seq 1
    with container.uow.begin() as tx:
        other.append(tx, audit(4, "B"))  # B's head is now seq 2; this log still remembers seq 1
    batch = [audit(5, "A"), audit(6, "B"), audit(7, "C"), audit(8, "C"), audit(9, "D"), audit(10, "E")]
    with container.uow.begin() as tx:
        log.append_many(tx, batch)
    chains = {
        stream: [e.record.detail["n"] for e in log.entries(f"customer:{stream}")]  # type: ignore[attr-defined]
        for stream in "ABCDE"
    }
    assert chains == {"A": [1, 5], "B": [2, 4, 6], "C": [3, 7, 8], "D": [9], "E": [10]}
    assert log.verify() == []
    # A batch that rolls back leaves stale heads behind: the next one still lands on the committed chain.
    with pytest.raises(RuntimeError), container.uow.begin() as tx:
        log.append_many(tx, [audit(11, "A"), audit(12, "B")])
        raise RuntimeError("the use case failed")
    with container.uow.begin() as tx:
        log.append_many(tx, [audit(13, "A"), audit(14, "B")])
    assert [e.seq for e in log.entries("customer:A")] == [1, 2, 3]  # type: ignore[attr-defined]
    assert [e.record.detail["n"] for e in log.entries("customer:B")] == [2, 4, 6, 14]  # type: ignore[attr-defined]
    assert log.verify() == []


def test_many_events_go_to_the_outbox_as_one_would(container: Container) -> None:
    events = [
        DomainEvent(f"evt_{n}", "transfer.created", 5 + n, "mobile", {"amount": n, "memo": 'a "b" {c}, 房租'})
        for n in range(3)
    ]
    with container.uow.begin() as tx:
        container.outbox.add_many(tx, events)
    assert container.outbox.undispatched() == events
