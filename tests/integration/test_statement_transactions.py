"""``statement_transactions``: on PostgreSQL each statement commits as it runs; on SQLite the block is one transaction.

The idempotency claim and the transfer record's first write use it to save two round trips each. These tests pin
the behaviour those callers rely on, and the limit they must respect: on PostgreSQL, work after a statement cannot
undo it.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from pocketbank.storage.app_db import SqlUnitOfWork, insert_if_absent, statement_transactions
from pocketbank.storage.app_schema import idempotency_keys as t


def _key(key: str) -> dict[str, object]:
    return {"principal": "p", "key": key, "fingerprint": "f", "state": "in_progress", "created_at": 1, "lease_until": 2}


def _keys(engine: Engine) -> list[str]:
    """The keys committed, seen from another connection (a reader: on SQLite it does not wait for the writer)."""
    with SqlUnitOfWork(engine).read() as conn:
        return sorted(r[0] for r in conn.execute(select(t.c.key)))


def test_postgresql_commits_each_statement_as_it_returns_and_sqlite_at_the_end(engine: Engine) -> None:
    autocommit = engine.dialect.name == "postgresql"
    with statement_transactions(engine) as conn:
        assert insert_if_absent(conn, t, _key("a"))
        # Another connection sees it at once on PostgreSQL (committed, no COMMIT round trip); not yet on SQLite.
        assert _keys(engine) == (["a"] if autocommit else [])
        assert not insert_if_absent(conn, t, _key("a"))
    assert _keys(engine) == ["a"]


def test_an_error_after_the_statement_keeps_it_on_postgresql_and_undoes_it_on_sqlite(engine: Engine) -> None:
    with pytest.raises(RuntimeError), statement_transactions(engine) as conn:
        insert_if_absent(conn, t, _key("b"))
        raise RuntimeError("the caller failed after its one statement")
    assert _keys(engine) == (["b"] if engine.dialect.name == "postgresql" else [])


def test_connections_go_back_to_the_pool_in_transactional_mode(engine: Engine) -> None:
    """The pooled connection an autocommit block used must not leak autocommit into a later unit of work."""
    with statement_transactions(engine) as conn:
        insert_if_absent(conn, t, _key("c"))
    with pytest.raises(RuntimeError), engine.begin() as tx:
        insert_if_absent(tx, t, _key("d"))
        raise RuntimeError("roll the unit of work back")
    assert _keys(engine) == ["c"]
