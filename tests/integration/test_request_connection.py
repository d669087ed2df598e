"""``request_connection``: one request's blocks share a pooled connection on PostgreSQL, and mean what they did.

The transfer route wraps its blocking work in it, so that its nine or so reads and units of work check one
connection out of the pool instead of nine. What must not change is what each block means: a unit of work commits
or rolls back as a whole, a read outside one sees what is committed, a block opened inside another gets a
connection of its own, and the connection goes back to the pool transactional (or not at all, when it broke).
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy.exc
from sqlalchemy import Engine, event, select, text

from pocketbank.storage.app_db import SqlUnitOfWork, insert_if_absent, read_connection, request_connection
from pocketbank.storage.app_db import statement_transactions as single
from pocketbank.storage.app_schema import idempotency_keys as t


def _key(key: str) -> dict[str, object]:
    return {"principal": "p", "key": key, "fingerprint": "f", "state": "in_progress", "created_at": 1, "lease_until": 2}


def _keys(conn: object) -> list[str]:
    return sorted(r[0] for r in conn.execute(select(t.c.key)))  # type: ignore[attr-defined]


@pytest.fixture
def checkouts(engine: Engine) -> Iterator[list[int]]:
    """How many times the pool handed out a connection (a list, to be read after the fact)."""
    seen = [0]

    def count(*_args: object) -> None:
        seen[0] += 1

    event.listen(engine, "checkout", count)
    yield seen
    event.remove(engine, "checkout", count)


def test_a_requests_blocks_share_one_checkout_on_postgresql(engine: Engine, checkouts: list[int]) -> None:
    uow = SqlUnitOfWork(engine)
    with request_connection(engine):
        with single(engine) as conn:
            insert_if_absent(conn, t, _key("a"))
        with uow.read() as conn:
            assert _keys(conn) == ["a"]
        with uow.begin() as tx:
            insert_if_absent(tx, t, _key("b"))
        with read_connection(engine) as conn:
            assert _keys(conn) == ["a", "b"]
    # SQLite is left as it was: a connection per block.
    assert checkouts[0] == (1 if engine.dialect.name == "postgresql" else 4)


def test_a_unit_of_work_still_rolls_back_as_a_whole_and_the_next_one_commits(engine: Engine) -> None:
    uow = SqlUnitOfWork(engine)
    with request_connection(engine):
        with pytest.raises(RuntimeError), uow.begin() as tx:
            insert_if_absent(tx, t, _key("gone"))
            raise RuntimeError("refused half-way")
        with uow.begin() as tx:
            insert_if_absent(tx, t, _key("kept"))
        with read_connection(engine) as conn:
            assert _keys(conn) == ["kept"]
    with uow.read() as conn:  # and from outside the request
        assert _keys(conn) == ["kept"]


def test_a_block_inside_another_gets_its_own_connection(engine: Engine, checkouts: list[int]) -> None:
    """Inside a unit of work, a read opened by other code must not join that transaction (nor see its rows)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite admits one writer: a second connection could not read beside the open unit of work")
    uow = SqlUnitOfWork(engine)
    with request_connection(engine), uow.begin() as tx:
        insert_if_absent(tx, t, _key("uncommitted"))
        with read_connection(engine) as other:
            assert other is not tx
            assert _keys(other) == []
        assert _keys(tx) == ["uncommitted"]
    assert checkouts[0] == 2


def test_reads_between_units_of_work_see_what_others_committed(engine: Engine) -> None:
    """Between units of work the request's connection is in autocommit: no snapshot is held from one read to
    the next (PostgreSQL's READ COMMITTED, per statement)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the shared connection is PostgreSQL's")
    with request_connection(engine), read_connection(engine) as conn:
        assert _keys(conn) == []
        with engine.begin() as elsewhere:
            insert_if_absent(elsewhere, t, _key("theirs"))
        assert _keys(conn) == ["theirs"]


def test_the_connection_goes_back_to_the_pool_transactional(engine: Engine) -> None:
    with request_connection(engine), read_connection(engine) as conn:
        _keys(conn)  # autocommit while the request had it
    with pytest.raises(RuntimeError), engine.begin() as tx:  # the same pooled connection, handed out again
        insert_if_absent(tx, t, _key("undone"))
        raise RuntimeError("roll back")
    with SqlUnitOfWork(engine).read() as conn:
        assert _keys(conn) == []


def test_a_connection_that_broke_is_not_handed_out_again(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("a server-side disconnect is PostgreSQL's")
    with pytest.raises((psycopg.OperationalError, sqlalchemy.exc.OperationalError)), request_connection(engine):
        with read_connection(engine) as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            admin.commit()
        with read_connection(engine) as conn:
            conn.execute(text("SELECT 1"))
    with request_connection(engine), SqlUnitOfWork(engine).begin() as tx:
        assert tx.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
