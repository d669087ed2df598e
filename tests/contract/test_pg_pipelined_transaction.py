"""``pipelined_transaction``: BEGIN, the statements and COMMIT in one round trip, and all or nothing; and the pool
that takes its connections back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import pq

from pocketbank.storage.ledger_postgres import libpq_url
from pocketbank.storage.pg_connections import BoundedConnections, pipelined_transaction


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(libpq_url(pg_url)) as c:
        c.execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL CHECK (balance >= 0))")
        c.execute("INSERT INTO accounts VALUES (1, 10), (2, 0)")
        c.commit()
        yield c


def balances(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    rows = conn.execute("SELECT id, balance FROM accounts ORDER BY id").fetchall()
    conn.rollback()
    return rows


def test_the_statements_commit_together_and_reads_inside_see_earlier_writes(conn: psycopg.Connection[Any]) -> None:
    with pipelined_transaction(conn):
        conn.execute("UPDATE accounts SET balance = balance - 4 WHERE id = 1")
        # A read inside the block syncs there; the transaction goes on, and sees its own write.
        assert conn.execute("SELECT balance FROM accounts WHERE id = 1").fetchone() == (6,)
        conn.execute("UPDATE accounts SET balance = balance + 4 WHERE id = 2")
    assert conn.info.transaction_status == pq.TransactionStatus.IDLE
    assert not conn.autocommit
    assert balances(conn) == [(1, 6), (2, 4)]


def test_a_failing_statement_rolls_back_the_statements_before_it(conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(psycopg.errors.CheckViolation), pipelined_transaction(conn):
        conn.execute("UPDATE accounts SET balance = balance + 50 WHERE id = 2")
        conn.execute("UPDATE accounts SET balance = balance - 50 WHERE id = 1")  # below zero
    assert conn.info.transaction_status == pq.TransactionStatus.IDLE
    assert not conn.autocommit
    assert balances(conn) == [(1, 10), (2, 0)]


def test_an_error_raised_by_the_caller_rolls_back_too(conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(RuntimeError, match="changed my mind"), pipelined_transaction(conn):
        conn.execute("UPDATE accounts SET balance = 0 WHERE id = 1")
        raise RuntimeError("changed my mind")
    assert conn.info.transaction_status == pq.TransactionStatus.IDLE
    assert balances(conn) == [(1, 10), (2, 0)]


def test_the_pool_drops_a_connection_left_in_autocommit(pg_url: str) -> None:
    """Every caller expects a transactional connection: one that comes back in autocommit is closed, not reused."""
    pool = BoundedConnections(lambda: psycopg.connect(libpq_url(pg_url)), 1)
    try:
        with pool.connection() as first:
            first.autocommit = True
        with pool.connection() as second:
            assert second is not first and not second.autocommit
        assert first.closed
        with pool.connection() as third:
            assert third is second  # a connection that came back as it should is reused
    finally:
        pool.close()
