"""Jepsen-style bank test: concurrent random transfers with retried ids, checked against an acknowledgement history.

Ten constrained customer accounts (``DEBITS_MUST_NOT_EXCEED_CREDITS``) are funded from an unconstrained bank account.
Eight worker threads move random amounts between them, sometimes as a linked chain (payment + fee to a fee
account), and resubmit every id one to three times, sometimes from two workers at once (an op is handed to another
worker through a shared queue before its owner submits it). Every answer is recorded. A reader thread meanwhile reads
all balances in one call and checks that the total never moves.

At the end the store must agree with the history: money conserved, no constrained account negative, every
acknowledged (``ok``/``exists``) transfer present exactly once with its fields, nothing present that was never
acknowledged, each applied id answered ``ok`` exactly once, ``verify()`` clean, and resubmitting every id changes
nothing.
"""

from __future__ import annotations

import contextlib
import queue
import random
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest

from pocketbank.domain.ledger import (
    TRANSIENT_TRANSFER_RESULTS,
    Account,
    AccountFlags,
    CreateAccountResult,
    CreateTransferResult,
    Transfer,
    TransferFlags,
)
from pocketbank.integrations.clock import SystemClock
from pocketbank.services.ledger import LedgerService
from pocketbank.storage.engine import open_ledger_store

R = CreateTransferResult
LEDGER = 1
CODE = 10
BANK = 1
FEE = 2
CUSTOMERS = list(range(101, 111))
HOLDERS = [*CUSTOMERS, FEE]  # constrained accounts: together they hold everything the bank paid out
ALL_ACCOUNTS = [BANK, *HOLDERS]
FUNDING = 1_000
TOTAL = FUNDING * len(CUSTOMERS)
WORKERS = 8
OPS_PER_WORKER = 150
SUCCESS = {R.OK.value, R.EXISTS.value}
TRANSIENT = {r.value for r in TRANSIENT_TRANSFER_RESULTS} | {R.ID_ALREADY_FAILED.value}


def open_bank(url: str, gc_writers: int) -> LedgerService:
    svc = LedgerService(open_ledger_store(url), SystemClock(), group_commit_writers=gc_writers)
    accounts = [Account(BANK, LEDGER, CODE)] + [
        Account(i, LEDGER, CODE, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS) for i in HOLDERS
    ]
    assert svc.create_accounts(accounts) == [CreateAccountResult.OK] * len(accounts)
    funding = [Transfer(900 + c, BANK, c, FUNDING, LEDGER, CODE) for c in CUSTOMERS]
    assert svc.create_transfers(funding) == [R.OK] * len(funding)
    return svc


def balances(svc: LedgerService) -> dict[int, int]:
    return {a.id: a.balance for a in svc.lookup_accounts(ALL_ACCOUNTS)}


@dataclass
class History:
    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    sent: dict[int, Transfer] = field(default_factory=dict)
    ops: dict[int, tuple[Transfer, ...]] = field(default_factory=dict)  # first id -> the op's segment
    submissions: int = 0
    errors: list[str] = field(default_factory=list)

    def record(self, op: tuple[Transfer, ...], results: list[str]) -> None:
        with self.lock:
            self.submissions += 1
            for t, r in zip(op, results, strict=True):
                self.answers[t.id].append(r)

    @property
    def acked(self) -> set[int]:
        return {i for i, rs in self.answers.items() if SUCCESS & set(rs)}


def retry_answers(earlier: list[str], applied: bool) -> set[str]:
    """What a resubmission of an id may answer, given what it answered before."""
    if applied:
        return {R.EXISTS.value}
    if set(earlier) & TRANSIENT:
        return {R.ID_ALREADY_FAILED.value, R.LINKED_EVENT_FAILED.value}
    # Only ever "linked_event_failed": the id was never recorded, so it is evaluated afresh; the chain still
    # fails (its failing leg is recorded), but this leg may now fail on its own state. It may never apply.
    return {R.LINKED_EVENT_FAILED.value} | TRANSIENT


def make_op(rng: random.Random, worker: int, seq: int) -> tuple[Transfer, ...]:
    base = (worker + 1) * 1_000_000 + seq * 2
    src, dst = rng.sample(CUSTOMERS, 2)
    amount = rng.randint(1, 400)
    if rng.random() < 0.3:
        fee = rng.randint(1, 25)
        return (
            Transfer(base, src, dst, amount, LEDGER, CODE, flags=TransferFlags.LINKED),
            Transfer(base + 1, src, FEE, fee, LEDGER, CODE + 1),
        )
    return (Transfer(base, src, dst, amount, LEDGER, CODE),)


def submit(svc: LedgerService, history: History, op: tuple[Transfer, ...]) -> None:
    try:
        results = [r.value for r in svc.create_transfers(op)]
    except Exception as exc:  # an exception leaves the op in doubt: record it, the checks treat it as unacked
        with history.lock:
            history.errors.append(f"{op[0].id}: {exc!r}")
        return
    history.record(op, results)


def worker(svc: LedgerService, history: History, shared: queue.Queue[tuple[Transfer, ...]], w: int) -> None:
    rng = random.Random(7919 * w + 17)
    for seq in range(OPS_PER_WORKER):
        # Sometimes help another worker: submit an op it is (probably) submitting right now.
        if rng.random() < 0.3:
            with contextlib.suppress(queue.Empty):
                submit(svc, history, shared.get_nowait())
        op = make_op(rng, w, seq)
        with history.lock:
            history.ops[op[0].id] = op
            for t in op:
                history.sent[t.id] = t
        if rng.random() < 0.3:
            shared.put(op)
        for _ in range(rng.randint(1, 3)):
            submit(svc, history, op)


def reader(svc: LedgerService, stop: threading.Event, stats: dict[str, Any]) -> None:
    while not stop.is_set():
        accounts = svc.lookup_accounts(ALL_ACCOUNTS)
        stats["reads"] += 1
        held = sum(a.balance for a in accounts if a.id in HOLDERS)
        if len(accounts) != len(ALL_ACCOUNTS) or held != TOTAL or sum(a.balance for a in accounts) != 0:
            stats["wrong"] += 1
            stats["examples"].append([(a.id, a.balance) for a in accounts])
        if any(a.balance < 0 for a in accounts if a.id in HOLDERS):
            stats["negative"] += 1
        time.sleep(0.002)


@pytest.mark.parametrize("gc_writers", [0, 2], ids=["direct", "group-commit"])
def test_bank_jepsen(db_url: str, gc_writers: int) -> None:
    engine = "sqlite" if db_url.startswith("sqlite") else "postgres"
    svc = open_bank(db_url, gc_writers)
    try:
        history = History()
        shared: queue.Queue[tuple[Transfer, ...]] = queue.Queue()
        stop = threading.Event()
        stats: dict[str, Any] = {"reads": 0, "wrong": 0, "negative": 0, "examples": []}
        started = time.monotonic()
        rd = threading.Thread(target=reader, args=(svc, stop, stats), name="reader")
        rd.start()
        threads = [
            threading.Thread(target=worker, args=(svc, history, shared, w), name=f"bank-{w}") for w in range(WORKERS)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        stop.set()
        rd.join(timeout=30)
        elapsed = time.monotonic() - started
        assert not any(t.is_alive() for t in [*threads, rd]), "a worker hung"
        assert not history.errors, f"submissions raised: {history.errors[:5]}"

        acked = history.acked
        all_ids = list(history.sent)
        present = {t.id: t for t in svc.lookup_transfers(all_ids)}
        codes = Counter(r for rs in history.answers.values() for r in rs)
        # Each applied id was applied by exactly one submission; everyone else was told "exists".
        ok_counts = {i: rs.count(R.OK.value) for i, rs in history.answers.items()}
        contradictory = sorted(i for i in acked if TRANSIENT & set(history.answers[i]))
        after = balances(svc)
        report = svc.verify()

        # Resubmit every op ever sent: nothing may change.
        resubmit_codes: Counter[str] = Counter()
        bad_retries = []
        for op in history.ops.values():
            rs = [r.value for r in svc.create_transfers(op)]
            resubmit_codes.update(rs)
            for t, r in zip(op, rs, strict=True):
                if r not in retry_answers(history.answers[t.id], t.id in present):
                    bad_retries.append((t.id, history.answers[t.id], t.id in present, r))
        again = balances(svc)
        present_again = {t.id for t in svc.lookup_transfers(all_ids)}
        report_again = svc.verify()

        print(
            f"T1 bank-jepsen[{engine},gc={gc_writers}]: ops={len(history.ops)} submissions={history.submissions} "
            f"ok={codes['ok']} exists={codes['exists']} exceeds_credits={codes['exceeds_credits']} "
            f"id_already_failed={codes['id_already_failed']} linked_event_failed={codes['linked_event_failed']} "
            f"acked={len(acked)} present={len(present)} reads={stats['reads']} "
            f"reads_with_wrong_total={stats['wrong']} contradictory_answers={len(contradictory)} "
            f"resubmit={dict(resubmit_codes)} elapsed={elapsed:.1f}s"
        )

        assert stats["wrong"] == 0, f"reader saw a wrong total: {stats['examples'][:3]}"
        assert stats["negative"] == 0
        assert stats["reads"] > 10
        # Conservation, per ledger (one ledger here) and no overdraft.
        assert sum(after.values()) == 0
        assert sum(after[i] for i in HOLDERS) == TOTAL
        assert all(after[i] >= 0 for i in HOLDERS), after
        # History against store.
        assert set(present) == acked, (
            f"acked but missing: {sorted(acked - set(present))[:10]}; "
            f"present but never acked: {sorted(set(present) - acked)[:10]}"
        )
        assert all(ok_counts[i] == 1 for i in acked), {i: history.answers[i] for i in acked if ok_counts[i] != 1}
        assert not any(ok_counts.get(i, 0) for i in set(all_ids) - acked)
        for i, t in present.items():
            s = history.sent[i]
            assert (t.debit_account_id, t.credit_account_id, t.amount, t.code, t.flags) == (
                s.debit_account_id,
                s.credit_account_id,
                s.amount,
                s.code,
                s.flags,
            )
        for op in history.ops.values():
            legs = [t.id in present for t in op]
            assert all(legs) or not any(legs), f"half-applied chain {[t.id for t in op]}"
        # The balances follow from the acknowledged transfers alone.
        model = dict.fromkeys(ALL_ACCOUNTS, 0)
        for c in CUSTOMERS:
            model[c] += FUNDING
            model[BANK] -= FUNDING
        for i in acked:
            s = history.sent[i]
            model[s.debit_account_id] -= s.amount
            model[s.credit_account_id] += s.amount
        assert after == model
        assert report.ok, report.problems
        assert report.transfers == len(CUSTOMERS) + len(acked)  # funding + acked, nothing else
        # Resubmission is a no-op.
        assert again == after
        assert present_again == set(present)
        assert R.OK.value not in resubmit_codes
        assert not bad_retries, bad_retries[:5]
        assert report_again.ok and report_again.transfers == report.transfers
        # An id answered "ok"/"exists" must never also have been answered with a failure.
        assert not contradictory, {i: history.answers[i] for i in contradictory[:5]}
    finally:
        svc.close()


# -- the same id submitted twice at the same moment -----------------------------------------------------------------


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_concurrent_duplicate_of_whole_balance_debit_answers_exists(
    engine: str, request: pytest.FixtureRequest, tmp_path: Any
) -> None:
    """Two clients send the same transfer (A's whole balance) at once, both held behind a lock: one ``ok``, one
    ``exists``. The second evaluation must see the first's row, not the balance the first one left behind."""
    url = f"sqlite:///{tmp_path / 'race.db'}" if engine == "sqlite" else request.getfixturevalue("pg_url")
    store = open_ledger_store(url)
    svc = LedgerService(store, SystemClock())
    try:
        assert (
            svc.create_accounts(
                [
                    Account(BANK, LEDGER, CODE),
                    Account(101, LEDGER, CODE, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS),
                ]
            )
            == [CreateAccountResult.OK] * 2
        )
        assert svc.create_transfers([Transfer(900, BANK, 101, 100, LEDGER, CODE)]) == [R.OK]
        svc.lookup_accounts([101])  # open this thread's connection before the race
        rounds, contradictions = 5, []
        for k in range(rounds):
            if k:  # refill A for the next round
                assert svc.create_transfers([Transfer(950 + k, BANK, 101, 100, LEDGER, CODE)]) == [R.OK]
            spend = Transfer(1000 + k, 101, BANK, 100, LEDGER, CODE)
            answers: list[str] = []
            lock = threading.Lock()

            def send(spend: Transfer = spend, answers: list[str] = answers, lock: threading.Lock = lock) -> None:
                r = svc.create_transfers([spend])[0].value
                with lock:
                    answers.append(r)

            threads = [threading.Thread(target=send) for _ in range(2)]
            with Blocker(engine, url) as wait_for_waiters:
                for t in threads:
                    t.start()
                wait_for_waiters(2)
            for t in threads:
                t.join(timeout=30)
            if sorted(answers) != ["exists", "ok"]:
                contradictions.append((spend.id, sorted(answers), store.failed_result(spend.id)))
        report = svc.verify()
        a = svc.lookup_accounts([101])[0]
        print(f"T1 same-id-race[{engine}]: rounds={rounds} contradictory_rounds={len(contradictions)} {contradictions}")
        assert report.ok, report.problems
        assert a.balance == 0
        assert not contradictions
    finally:
        svc.close()


# Backends queued behind the blocker, directly or behind another waiter of the same row lock.
WAITERS_SQL = (
    "WITH w AS (SELECT pid, pg_blocking_pids(pid) AS b FROM pg_stat_activity) SELECT count(*) FROM w "
    "WHERE %s = ANY(w.b) OR EXISTS (SELECT 1 FROM w w2 WHERE w2.pid = ANY(w.b) AND %s = ANY(w2.b))"
)


class Blocker:
    """Holds the write path (PG: a row lock on account 101; SQLite: the database write lock) until exit."""

    def __init__(self, engine: str, url: str) -> None:
        self.engine, self.url = engine, url
        self.conn: Any = None

    def __enter__(self) -> Any:
        if self.engine == "sqlite":
            self.conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None)
            self.conn.execute("BEGIN IMMEDIATE")

            def wait_sqlite(n: int) -> None:
                time.sleep(0.4)  # the first thread waits in BEGIN IMMEDIATE, the second on the store's lock

            return wait_sqlite
        import psycopg

        self.conn = psycopg.connect(self.url)
        self.conn.execute("SELECT id FROM ledger_accounts WHERE id = %s FOR UPDATE", [(101).to_bytes(16, "big")])
        pid = self.conn.info.backend_pid

        def wait_pg(n: int) -> None:
            with psycopg.connect(self.url, autocommit=True) as watcher:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    row = watcher.execute(WAITERS_SQL, [pid, pid]).fetchone()
                    if row and row[0] >= n:
                        return
                    time.sleep(0.02)
            raise AssertionError("the two submissions never queued behind the lock")

        return wait_pg

    def __exit__(self, *exc: object) -> None:
        self.conn.commit()
        self.conn.close()
