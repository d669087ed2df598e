"""Housekeeping on SQLite and PostgreSQL: expired idempotency keys and long-published outbox events go, in bounded
steps; a key is judged afresh after its retention; an unpublished event is never deleted, however old."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, func, select

from pocketbank.api.main import run_jobs
from pocketbank.domain.clock import NS_PER_SECOND, ManualClock
from pocketbank.domain.events import DomainEvent
from pocketbank.errors import IdempotencyKeyReused
from pocketbank.services.housekeeping import DAY_NS, HOUR_NS, Housekeeping, HousekeepingPass, RetentionPolicy
from pocketbank.services.ports import IdempotentResponse
from pocketbank.storage.app_db import SqlUnitOfWork
from pocketbank.storage.app_schema import idempotency_keys
from pocketbank.storage.app_schema import outbox as outbox_table
from pocketbank.storage.idempotency import SqlIdempotencyStore
from pocketbank.storage.outbox import SqlOutbox

LEASE = 60 * NS_PER_SECOND


@dataclass
class Bank:
    outbox: SqlOutbox
    keys: SqlIdempotencyStore
    clock: ManualClock

    def housekeeping(self, **policy: int) -> Housekeeping:
        return Housekeeping(self.keys, self.outbox, self.clock, RetentionPolicy(**policy))

    def event(self, n: int) -> DomainEvent:
        e = DomainEvent(f"evt_{n:05d}", "transfer.created", self.clock.now_ns(), "mobile", {"n": n})
        with SqlUnitOfWork(self.outbox.engine).begin() as tx:
            self.outbox.add(tx, e)
        return e

    def claim(self, key: str, fingerprint: str = "a" * 64) -> None:
        claim = self.keys.claim("cus_1", key, fingerprint, self.clock.now_ns(), LEASE)
        assert claim.replay is None
        self.keys.complete("cus_1", key, IdempotentResponse(201, '{"id":"' + key + '"}'), self.clock.now_ns())

    def outbox_ids(self) -> list[str]:
        with self.outbox.engine.connect() as conn:
            return list(conn.execute(select(outbox_table.c.id).order_by(outbox_table.c.id)).scalars())

    def key_count(self) -> int:
        with self.keys.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(idempotency_keys)).scalar_one())


@pytest.fixture
def bank(engine: Engine) -> Bank:
    return Bank(SqlOutbox(engine), SqlIdempotencyStore(engine), ManualClock())


def test_published_events_go_after_their_retention_and_unpublished_ones_stay(bank: Bank) -> None:
    old_published, old_unpublished = bank.event(1), bank.event(2)
    bank.outbox.mark_dispatched([old_published.id], bank.clock.now_ns())
    bank.clock.advance(5 * 86_400)
    recent_published = bank.event(3)
    bank.outbox.mark_dispatched([recent_published.id], bank.clock.now_ns())
    bank.clock.advance(3 * 86_400)  # the first is published 8 days ago, the third 3 days ago

    done = bank.housekeeping().run_once()

    assert done == HousekeepingPass(idempotency_keys=0, outbox_events=1)
    assert bank.outbox_ids() == [old_unpublished.id, recent_published.id]
    assert [e.id for e in bank.outbox.undispatched()] == [old_unpublished.id]  # the relay still finds it

    bank.clock.advance(365 * 86_400)
    assert bank.housekeeping().run_once().outbox_events == 1  # the third, at last; never the unpublished one
    assert bank.outbox_ids() == [old_unpublished.id]


def test_keys_go_after_24_hours_and_the_key_is_then_judged_afresh(bank: Bank) -> None:
    bank.claim("old")
    bank.clock.advance(23 * 3600)
    bank.claim("recent")
    with pytest.raises(IdempotencyKeyReused):  # within its retention, another body under the key is refused
        bank.keys.claim("cus_1", "old", "b" * 64, bank.clock.now_ns(), LEASE)
    bank.clock.advance(2 * 3600)  # "old" is 25 hours old, "recent" 2

    assert bank.housekeeping().run_once() == HousekeepingPass(idempotency_keys=1, outbox_events=0)
    assert bank.key_count() == 1
    # A new request under the purged key is a new request (the transfer path still refuses another payment under
    # it: tests/api/test_transfers_api.py).
    assert bank.keys.claim("cus_1", "old", "b" * 64, bank.clock.now_ns(), LEASE).replay is None
    replay = bank.keys.claim("cus_1", "recent", "a" * 64, bank.clock.now_ns(), LEASE).replay
    assert replay is not None and replay.body == '{"id":"recent"}'


def test_a_run_deletes_in_bounded_steps_and_the_next_run_goes_on(bank: Bank) -> None:
    for n in range(7):
        bank.claim(f"k{n}")
    bank.clock.advance(2 * 86_400)
    housekeeping = bank.housekeeping(batch=2, max_batches=2)

    assert housekeeping.run_once().idempotency_keys == 4
    assert bank.key_count() == 3
    assert housekeeping.run_once().idempotency_keys == 3
    assert housekeeping.run_once().idempotency_keys == 0
    assert bank.key_count() == 0


def test_retention_must_be_positive() -> None:
    for bad in ({"idempotency_ns": 0}, {"outbox_ns": -DAY_NS}, {"batch": 0}, {"max_batches": 0}):
        with pytest.raises(ValueError, match="positive"):
            RetentionPolicy(**bad)
    assert RetentionPolicy().idempotency_ns == 24 * HOUR_NS


class _Counting:
    def __init__(self) -> None:
        self.runs = 0

    def run_once(self) -> HousekeepingPass:
        self.runs += 1
        return HousekeepingPass()


class _Idle:
    def post_due(self) -> int:
        return 0

    def resume_stalled(self) -> int:
        return 0

    def expire_pending(self) -> int:
        return 0


@dataclass
class _Jobs:
    transfers: _Idle
    ledger: _Idle
    housekeeping: _Counting


def test_the_serving_workers_jobs_run_housekeeping_at_once_and_then_every_60_ticks() -> None:
    jobs = _Jobs(_Idle(), _Idle(), _Counting())
    stop = threading.Event()
    ticks = threading.Semaphore(0)
    original = jobs.transfers.post_due

    def post_due() -> int:
        ticks.release()
        return original()

    jobs.transfers.post_due = post_due  # type: ignore[method-assign]
    worker = threading.Thread(target=run_jobs, args=(jobs, stop, 0.0005))  # type: ignore[arg-type]
    worker.start()
    for _ in range(121):  # ticks 1, 61 and 121 run it
        assert ticks.acquire(timeout=5)
    stop.set()
    worker.join(timeout=5)
    assert jobs.housekeeping.runs == 3  # a 122nd tick may have begun before the stop; it is not a housekeeping one
