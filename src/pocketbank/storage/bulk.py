"""Many rows in one statement on PostgreSQL: ``INSERT ... SELECT FROM unnest(...)`` and ``UPDATE ... FROM unnest``.

What a transfer costs is mostly statements, not round trips or commits: each one executed costs the API worker and
the database server some 50-100 µs of CPU whatever it holds. When concurrent transfers are written together
(``services.transfer_effects``), their rows go to PostgreSQL as one statement per table, each column one array
parameter, as the ledger's batches do (``storage.ledger_postgres``), as text literals built by ``pg_arrays``:
psycopg's own list dumper, element by element in Python, had cost as much as the rest of a batch's writes.

Values pass through the column type's bind conversion first (``Id128``'s int to bytes), exactly as a single-row
statement compiled by SQLAlchemy would convert them. SQLite has no ``unnest``: its stores write row by row inside
the same transaction, which on an embedded database costs no round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Column, Connection, Integer, LargeBinary, String, Table, TypeDecorator
from sqlalchemy.dialects import postgresql

from pocketbank.storage import pg_arrays
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


def arrays(table: Table, names: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """One array literal per column (``pg_arrays``), each value converted first as the column's type binds it."""
    out = []
    for name in names:
        process, encode = _codec(table.c[name])
        values = [row[name] for row in rows]
        out.append(encode([process(v) for v in values] if process is not None else values))
    return out


@cache
def _codec(column: Column[Any]) -> tuple[Callable[[Any], Any] | None, Callable[[list[Any]], str]]:
    """The column's bind conversion, and the encoder of its array literal."""
    type_ = column.type
    base = type_.impl_instance if isinstance(type_, TypeDecorator) else type_  # Id128: LargeBinary underneath
    for kind, encode in _ENCODERS:
        if isinstance(base, kind):
            return type_.dialect_impl(_PG).bind_processor(_PG), encode
    raise TypeError(f"{column}: no array literal for {type_!r}")


_ENCODERS: tuple[tuple[type[Any], Callable[[list[Any]], str]], ...] = (
    (String, pg_arrays.texts),  # and Text
    (Integer, pg_arrays.ints_or_null),  # and BigInteger
    (LargeBinary, pg_arrays.byteas_or_null),
)


def ids_of(rows: Sequence[tuple[Any, ...]]) -> set[int]:
    """The 128-bit ids (16-byte ``bytea``) in the first column of ``RETURNING id`` rows."""
    return {int.from_bytes(bytes(r[0])) for r in rows}


def execute(tx: Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run one statement on the driver in ``tx``'s transaction; the rows it returns (none without RETURNING)."""
    cursor = driver_cursor(tx)
    cursor.execute(sql, params)
    return list(cursor.fetchall()) if cursor.description is not None else []
