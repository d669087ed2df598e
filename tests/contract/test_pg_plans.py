"""The PostgreSQL ledger's look-ups stay index look-ups as the tables grow.

psycopg prepares a statement after a few runs, and PostgreSQL then keeps one plan for it per connection. A plan made
while ``ledger_transfers`` was nearly empty was a sequential scan, and stayed one: every batch then read the whole
table to find a dozen ids. The store's connections are set up so that the kept plan is an index look-up.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pocketbank.domain.clock import ManualClock
from pocketbank.domain.ledger import Account, Transfer
from pocketbank.services.ledger import LedgerService
from pocketbank.storage import pg_arrays as arr
from pocketbank.storage.engine import open_ledger_store
from pocketbank.storage.ledger_postgres import APPLICATION_NAME, PostgresLedgerStore

LEDGER, CODE = 1, 1
# psycopg prepares a statement on its 6th run, and PostgreSQL plans its first 5 runs afresh before it settles on one
# plan: 15 batches while the table is small settle the look-up's plan there.
EARLY_BATCHES = 15
GROWTH = 3000  # transfers added afterwards


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[PostgresLedgerStore]:
    store = open_ledger_store(pg_url)  # with its tables
    assert isinstance(store, PostgresLedgerStore)
    yield store
    store.close()


def test_lookup_prepared_on_a_small_table_is_an_index_lookup_on_a_large_one(pg_store: PostgresLedgerStore) -> None:
    ledger = LedgerService(pg_store, ManualClock())
    assert all(r.value == "ok" for r in ledger.create_accounts([Account(1, LEDGER, CODE), Account(2, LEDGER, CODE)]))
    for i in range(EARLY_BATCHES):  # one transfer per batch, each batch running the look-up of its ids
        assert [r.value for r in ledger.create_transfers([Transfer(10 + i, 1, 2, 1, LEDGER, CODE)])] == ["ok"]
    start = 1000
    for first in range(start, start + GROWTH, 1000):
        accounts = [Account(i, LEDGER, CODE) for i in range(first, first + 1000)]
        assert {r.value for r in ledger.create_accounts(accounts)} == {"ok"}
        batch = [Transfer(i, 1, 2, 1, LEDGER, CODE) for i in range(first, first + 1000)]
        assert {r.value for r in ledger.create_transfers(batch)} == {"ok"}

    # Used by one thread at a time, the pool holds one connection: the writer's, the one with the prepared statements.
    with pg_store._conn() as conn:
        prepared = conn.execute("SELECT name, statement FROM pg_prepared_statements").fetchall()
        ids = arr.ids([start + 7, start + 1500, 10**9])
        for table in ("ledger_transfers", "ledger_accounts"):  # the transfers' look-up, the accounts' lock
            names = [name for name, statement in prepared if f"FROM {table} WHERE id = ANY" in statement]
            assert names, f"the look-up in {table} should have been prepared by now"
            plan = "\n".join(row[0] for row in conn.execute(f"EXPLAIN EXECUTE {names[0]}('{ids}')").fetchall())
            assert "Seq Scan" not in plan, plan
            assert "Index" in plan, plan
        # The counters' update finds each row by the address the lock read it at: no index, no scan.
        names = [name for name, statement in prepared if statement.startswith("UPDATE ledger_accounts")]
        assert names, "the counters' update should have been prepared by now"
        args = ", ".join(["'{\"(0,1)\"}'"] + ["'{0}'"] * 5)
        plan = "\n".join(row[0] for row in conn.execute(f"EXPLAIN EXECUTE {names[0]}({args})").fetchall())
        assert "Tid Scan" in plan and "Seq Scan" not in plan, plan
        conn.rollback()
    assert pg_store.verify().ok


def test_many_threads_share_a_bounded_number_of_connections(pg_url: str) -> None:
    """A server has dozens of request threads per process. With a connection per thread that ever read the ledger,
    two workers under load opened more than PostgreSQL's 100 connections and answered 500 ("too many clients");
    the store now holds at most its pool's size, and the threads beyond it wait their turn."""
    import threading

    import psycopg

    store = open_ledger_store(pg_url, pool_size=3)
    try:
        ledger = LedgerService(store, ManualClock())
        assert {r.value for r in ledger.create_accounts([Account(i, LEDGER, CODE) for i in (1, 2)])} == {"ok"}
        start = threading.Barrier(40)
        seen: list[int] = []

        def reader() -> None:
            start.wait()
            for _ in range(5):
                seen.append(len(ledger.lookup_accounts([1, 2])))

        threads = [threading.Thread(target=reader) for _ in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert seen == [2] * 200
        with psycopg.connect(pg_url, autocommit=True) as admin:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND application_name = %s",
                [APPLICATION_NAME],
            ).fetchone()
        assert row is not None and row[0] <= 3
    finally:
        store.close()


def test_a_connection_the_server_dropped_fails_once_and_the_next_call_reconnects(pg_url: str) -> None:
    """A broken connection is dropped when it comes back, and the next caller opens a fresh one at once (no
    background reconnection with growing delays: the crash suite's server-restart test depends on it)."""
    import psycopg

    store = open_ledger_store(pg_url, pool_size=2)
    try:
        ledger = LedgerService(store, ManualClock())
        assert {r.value for r in ledger.create_accounts([Account(1, LEDGER, CODE)])} == {"ok"}
        assert len(ledger.lookup_accounts([1])) == 1
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = %s",
                [APPLICATION_NAME],
            )
        with pytest.raises(psycopg.OperationalError):
            ledger.lookup_accounts([1])
        assert len(ledger.lookup_accounts([1])) == 1
    finally:
        store.close()
