"""``FastStatement`` runs SQLAlchemy statements on the driver: the same values, transaction and refusals as
``Connection.execute``, on both engines."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, bindparam, insert, select, update

from pocketbank.storage.customers_tables import step_up_challenges
from pocketbank.storage.fast_sql import FastStatement
from pocketbank.storage.money_tables import deposit_accounts as da

BIG_ID = 2**127 + 12345  # needs all 16 bytes of an Id128


def account(n: int, *, default: bool = False) -> dict[str, object]:
    return {
        "id": BIG_ID + n,
        "customer_id": 7,
        "currency": ("CNY", "USD", "EUR", "HKD")[n],  # one open account per customer and currency
        "ledger": 156,
        "status": "open",
        "is_default": default,
        "opened_at": 1000 + n,
        "closed_at": None,
    }


INSERT = FastStatement(insert(da))
BY_ID = FastStatement(select(da).where(da.c.id == bindparam("id")))
OF_CUSTOMER = FastStatement(select(da.c.id).where(da.c.customer_id == bindparam("c")).order_by(da.c.id).limit(2))
CLOSE = FastStatement(update(da).where(da.c.customer_id == bindparam("c")).values(status="closed"))


def test_values_round_trip_through_the_column_types(engine: Engine) -> None:
    with engine.begin() as tx:
        INSERT.run(tx, account(1, default=True))
    with engine.connect() as conn:
        row = BY_ID.first(conn, {"id": BIG_ID + 1})
        via_sqlalchemy = conn.execute(select(da).where(da.c.id == BIG_ID + 1)).one()
    assert row is not None
    assert row.id == BIG_ID + 1  # Id128: 16 bytes in the table, an int here
    assert row.is_default is True  # a bool on SQLite too, where the column holds 1
    assert row.closed_at is None
    assert tuple(row) == tuple(via_sqlalchemy)


def test_literals_of_the_statement_apply_and_rowcounts_are_reported(engine: Engine) -> None:
    with engine.begin() as tx:
        for n in range(3):
            INSERT.run(tx, account(n))
        assert [r.id for r in OF_CUSTOMER.rows(tx, {"c": 7})] == [BIG_ID, BIG_ID + 1]  # LIMIT 2, from the statement
        assert CLOSE.run(tx, {"c": 7}) == 3
        assert CLOSE.run(tx, {"c": 8}) == 0
    with engine.connect() as conn:
        assert {r.status for r in conn.execute(select(da))} == {"closed"}  # "closed": a literal of the statement


def test_it_runs_inside_the_callers_transaction(engine: Engine) -> None:
    with pytest.raises(RuntimeError), engine.begin() as tx:
        INSERT.run(tx, account(1))
        assert BY_ID.first(tx, {"id": BIG_ID + 1}) is not None  # visible to its own transaction
        raise RuntimeError("the use case failed")
    with engine.connect() as conn:
        assert BY_ID.first(conn, {"id": BIG_ID + 1}) is None


def test_what_only_sqlalchemy_can_run_is_refused(engine: Engine) -> None:
    in_list = FastStatement(select(da).where(da.c.id.in_(bindparam("ids", expanding=True))))
    # ``attempts`` has a Python-side default (0) that only SQLAlchemy's execution fills in.
    no_attempts = FastStatement(insert(step_up_challenges))
    with engine.connect() as conn:
        with pytest.raises(TypeError, match="expanding IN"):
            in_list.rows(conn, {"ids": [1, 2]})
        with pytest.raises(TypeError, match="attempts"):
            no_attempts.run(conn, {"id": 1, "customer_id": 2})
