"""Many rows in one statement on PostgreSQL: ``INSERT ... SELECT FROM unnest(...)`` and ``UPDATE ... FROM unnest``.

What a transfer costs is mostly statements, not round trips or commits: each one executed costs the API worker and
the database server some 50-100 µs of CPU whatever it holds. When concurrent transfers are written together
(``services.transfer_effects``), their rows go to PostgreSQL as one statement per table, each column one array
parameter, as the ledger's batches do (``storage.ledger_postgres``). The arrays here hold text (memos, JSON), so
they go through psycopg's own array adaptation, which quotes them, not ``pg_arrays``' unquoted literals.

Values pass through the column type's bind conversion first (``Id128``'s int to bytes), exactly as a single-row
statement compiled by SQLAlchemy would convert them. SQLite has no ``unnest``: its stores write row by row inside
the same transaction, which on an embedded database costs no round trip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Connection, Table
from sqlalchemy.dialects import postgresql

from pocketbank.storage.fast_sql import driver_cursor

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


def array_type(column: Column[Any]) -> str:
    """The PostgreSQL array type of a column: ``VARCHAR(16)[]``, ``BIGINT[]``, ``BYTEA[]``..."""
    return f"{column.type.compile(dialect=_PG)}[]"


def unnest(table: Table, names: Sequence[str], alias: str = "v") -> str:
    """``unnest(%s::T1[], %s::T2[], ...) AS v(c1, c2, ...)`` for these columns of ``table``."""
    casts = ", ".join(f"%s::{array_type(table.c[n])}" for n in names)
    return f"unnest({casts}) AS {alias}({', '.join(names)})"


def insert_sql(table: Table, names: Sequence[str], *, skip_conflicts: bool = False, returning: str = "") -> str:
    """Insert one row per array element; ``skip_conflicts``: ``ON CONFLICT DO NOTHING``."""
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM {unnest(table, names)}"  # noqa: S608
    if skip_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    return sql + (f" RETURNING {returning}" if returning else "")


def arrays(table: Table, names: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """One list per column, each value converted as the column's type binds it."""
    out = []
    for name in names:
        process = table.c[name].type.dialect_impl(_PG).bind_processor(_PG)
        values = [row[name] for row in rows]
        out.append([process(v) for v in values] if process is not None else values)
    return out


def execute(tx: Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run one statement on the driver in ``tx``'s transaction; the rows it returns (none without RETURNING)."""
    cursor = driver_cursor(tx)
    cursor.execute(sql, params)
    return list(cursor.fetchall()) if cursor.description is not None else []
