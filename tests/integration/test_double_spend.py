"""Double spend: 20 concurrent debits of an account's whole balance; exactly one may succeed.

Account A (constrained: debits must not exceed credits) holds 100. Twenty clients, each with its own transfer id,
try to move all 100 out of A at the same moment: twenty separate PROCESSES, each opening its own store from the URL
and waiting at a ``multiprocessing.Barrier``, and, as a second variant, twenty threads through one ``LedgerService``
with group commit on. Exactly one ``ok``, nineteen ``exceeds_credits``; A ends at 0; money conserved; verify clean.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from collections import Counter
from typing import Any

from pocketbank.domain.ledger import (
    Account,
    AccountFlags,
    CreateAccountResult,
    CreateTransferResult,
    Transfer,
)
from pocketbank.integrations.clock import SystemClock
from pocketbank.services.ledger import LedgerService
from pocketbank.storage.engine import open_ledger_store

R = CreateTransferResult
LEDGER = 1
CODE = 10
BANK, A, B = 1, 2, 3
BALANCE = 100
CLIENTS = 20


def setup_ledger(url: str) -> None:
    store = open_ledger_store(url)
    svc = LedgerService(store, SystemClock())
    try:
        dmnec = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
        accounts = [Account(BANK, LEDGER, CODE), Account(A, LEDGER, CODE, flags=dmnec), Account(B, LEDGER, CODE)]
        assert svc.create_accounts(accounts) == [CreateAccountResult.OK] * 3
        assert svc.create_transfers([Transfer(1, BANK, A, BALANCE, LEDGER, CODE)]) == [R.OK]
    finally:
        svc.close()


def spend(transfer_id: int) -> Transfer:
    return Transfer(transfer_id, A, B, BALANCE, LEDGER, CODE)


def check_outcome(url: str, answers: list[str], label: str, elapsed: float) -> None:
    store = open_ledger_store(url, create=False)
    try:
        accounts = {a.id: a for a in store.lookup_accounts([BANK, A, B])}
        report = store.verify()
        present = store.lookup_transfers([100 + k for k in range(CLIENTS)])
    finally:
        store.close()
    codes = Counter(answers)
    print(
        f"T2 double-spend[{label}]: clients={CLIENTS} ok={codes['ok']} exceeds_credits={codes['exceeds_credits']} "
        f"other={sum(n for c, n in codes.items() if c not in ('ok', 'exceeds_credits'))} "
        f"A.balance={accounts[A].balance} B.balance={accounts[B].balance} verify_ok={report.ok} "
        f"elapsed={elapsed:.2f}s"
    )
    assert len(answers) == CLIENTS, answers
    assert codes == {"ok": 1, "exceeds_credits": CLIENTS - 1}, codes
    assert len(present) == 1
    assert accounts[A].balance == 0
    assert accounts[B].balance == BALANCE
    assert sum(a.balance for a in accounts.values()) == 0
    assert report.ok, report.problems
    assert report.transfers == 2


def _spend_in_process(url: str, transfer_id: int, barrier: Any, out: Any) -> None:
    """Child process: own store, own connection, wait at the barrier, then try to empty A."""
    store = open_ledger_store(url, create=False)
    try:
        svc = LedgerService(store, SystemClock())
        svc.lookup_accounts([A])  # connect before the barrier, so the race is on the write itself
        barrier.wait(timeout=120)
        answer = svc.create_transfers([spend(transfer_id)])[0].value
    except BaseException as exc:
        answer = f"error: {exc!r}"
    finally:
        store.close()
    out.put((transfer_id, answer))


def test_double_spend_processes(db_url: str) -> None:
    engine = "sqlite" if db_url.startswith("sqlite") else "postgres"
    setup_ledger(db_url)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(CLIENTS + 1)  # the parent waits too, to time the race from the release
    out = ctx.Queue()
    procs = [ctx.Process(target=_spend_in_process, args=(db_url, 100 + k, barrier, out)) for k in range(CLIENTS)]
    answers: list[str] = []
    try:
        for p in procs:
            p.start()
        barrier.wait(timeout=120)
        started = time.monotonic()
        for _ in range(CLIENTS):
            answers.append(out.get(timeout=60)[1])
        elapsed = time.monotonic() - started
        for p in procs:
            p.join(timeout=30)
        assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
            p.close()
        out.close()
        out.join_thread()
    check_outcome(db_url, answers, f"{engine},processes", elapsed)


def test_double_spend_threads_group_commit(db_url: str) -> None:
    engine = "sqlite" if db_url.startswith("sqlite") else "postgres"
    setup_ledger(db_url)
    svc = LedgerService(open_ledger_store(db_url, create=False), SystemClock(), group_commit_writers=2)
    barrier = threading.Barrier(CLIENTS + 1)
    out: queue.Queue[str] = queue.Queue()

    def client(transfer_id: int) -> None:
        barrier.wait(timeout=60)
        try:
            out.put(svc.create_transfers([spend(transfer_id)])[0].value)
        except Exception as exc:
            out.put(f"error: {exc!r}")

    try:
        threads = [threading.Thread(target=client, args=(100 + k,)) for k in range(CLIENTS)]
        for t in threads:
            t.start()
        barrier.wait(timeout=60)
        started = time.monotonic()
        for t in threads:
            t.join(timeout=60)
        elapsed = time.monotonic() - started
        answers = [out.get_nowait() for _ in range(out.qsize())]
    finally:
        svc.close()
    check_outcome(db_url, answers, f"{engine},threads+group-commit", elapsed)
