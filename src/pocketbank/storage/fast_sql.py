"""Hot statements run on the driver's cursor: SQLAlchemy writes and compiles the SQL, the driver executes it.

SQLAlchemy Core is how the storage layer says what it reads and writes: tables, column types and statements that
read like the schema. Executing a statement through it cost more CPU than the driver's own work (an execution
context, result metadata built from the cursor description, processors looked up per call), and a transfer runs
about 18 statements. Running them through the driver instead took the API workers' CPU per transfer from 7.0-7.6
to 4.9-5.5 ms (``bench/api.py``, together with ``app_db.read_connection``'s cheaper checkout).

A ``FastStatement`` keeps the SQLAlchemy statement, and with it the compiler and the column types' conversions
(``Id128``'s bytes, SQLite's booleans). It compiles the statement once per dialect and set of parameter names into
the driver's SQL and a list of conversions, and runs it on the DB-API connection of the SQLAlchemy ``Connection``
the caller holds: the same transaction and isolation level, and the same ``BEGIN`` on SQLite (the engine's
``begin`` hook still fires, because the connection is put in a transaction first, exactly as SQLAlchemy's own
autobegin would).

What it refuses, at the first use rather than by silently doing something else: expanding ``IN`` lists (their SQL
depends on the values), and an ``INSERT`` or ``UPDATE`` that would leave out a column with a Python-side default or
``onupdate`` (SQLAlchemy's execution fills those in; the driver would not). Those stay on ``Connection.execute``.
"""

from __future__ import annotations

import weakref
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Delete, Insert, Select, Update
from sqlalchemy.engine import Dialect

Processor = Callable[[Any], Any]

# One cursor per psycopg connection, reused by every statement run on it: ``Connection.execute`` makes a cursor per
# call, about a third of psycopg's CPU for a one-row read (16 against 11 µs). Safe because each call reads its
# results (``rows``, ``first``) or row count (``run``) before it returns, and a pooled connection serves one thread
# at a time.
_CURSORS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    positional: tuple[str, ...] | None  # parameter order for a qmark driver (sqlite3); None: named (psycopg)
    defaults: dict[str, Any]  # values the statement carries itself (a LIMIT, a literal)
    binds: tuple[tuple[str, Processor], ...]  # parameters whose type converts them (Id128: int to bytes)
    row: Callable[[Sequence[Any]], Any] | None  # a named tuple per result row; None: no rows
    results: tuple[tuple[int, Processor], ...]  # result columns whose type converts them


class FastStatement:
    """One statement, run through the driver: ``rows``, ``first`` and ``run`` (the row count)."""

    __slots__ = ("_plans", "statement")

    def __init__(self, statement: Select[Any] | Insert | Update | Delete) -> None:
        self.statement = statement
        self._plans: dict[tuple[str, tuple[str, ...]], _Plan] = {}

    def rows(self, conn: Connection, params: Mapping[str, Any] | None = None) -> list[Any]:
        plan, cursor = self._execute(conn, params or {})
        return _rows(plan, cursor)

    def first(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Any | None:
        rows = self.rows(conn, params)
        return rows[0] if rows else None

    def run(self, conn: Connection, params: Mapping[str, Any] | None = None) -> int:
        """Execute; the number of rows it changed."""
        _, cursor = self._execute(conn, params or {})
        return int(cursor.rowcount)

    def _execute(self, conn: Connection, params: Mapping[str, Any]) -> tuple[_Plan, Any]:
        key = (conn.dialect.name, tuple(params))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = _compile(self.statement, conn.dialect, key[1])
        values = {**plan.defaults, **params} if plan.defaults else dict(params)
        for name, process in plan.binds:
            values[name] = process(values[name])
        args = tuple(values[n] for n in plan.positional) if plan.positional is not None else values
        if key[0] != "postgresql":
            return plan, _begun(conn).execute(plan.sql, args)  # sqlite3's connections take no weak references
        cursor = driver_cursor(conn)
        cursor.execute(plan.sql, args)
        return plan, cursor


def _begun(conn: Connection) -> Any:
    """The DB-API connection of ``conn``, in the transaction SQLAlchemy would have begun for a statement."""
    driver = conn.connection.driver_connection
    assert driver is not None
    if not conn.in_transaction() and not (conn.dialect.name == "postgresql" and driver.autocommit):
        # What SQLAlchemy's autobegin does: SQLite's BEGIN (the engine's hook), nothing on the wire for psycopg,
        # and SQLAlchemy then knows there is a transaction to commit. An autocommit connection has none.
        conn.begin()
    return driver


def driver_cursor(conn: Connection) -> Any:
    """psycopg's cursor for ``conn`` (PostgreSQL only), reused across statements, with the transaction begun."""
    driver = _begun(conn)
    cursor = _CURSORS.get(driver)
    if cursor is None or cursor.closed:
        cursor = _CURSORS[driver] = driver.cursor()
    return cursor


def _rows(plan: _Plan, cursor: Any) -> list[Any]:
    assert plan.row is not None, "this statement returns no rows"
    fetched = cursor.fetchall()
    if plan.results:
        fetched = [_convert(r, plan.results) for r in fetched]
    return [plan.row(r) for r in fetched]


def _convert(row: Sequence[Any], results: tuple[tuple[int, Processor], ...]) -> list[Any]:
    out = list(row)
    for i, process in results:
        out[i] = process(out[i])
    return out


def _compile(statement: Select[Any] | Insert | Update | Delete, dialect: Dialect, keys: tuple[str, ...]) -> _Plan:
    if isinstance(statement, Insert | Update):
        _refuse_python_defaults(statement, keys)
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    binds: list[tuple[str, Processor]] = []
    for name, bind in compiled.binds.items():
        if bind.expanding:
            raise TypeError(f"{name}: an expanding IN list cannot be compiled once; use Connection.execute")
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            binds.append((name, process))
    if getattr(compiled, "escaped_bind_names", None):
        raise TypeError("a parameter name the dialect escapes in the SQL: name it plainly")
    # A bind given its value in the statement (a LIMIT, ``.values(state="done")``) is sent with that value.
    defaults = {n: b.effective_value for n, b in compiled.binds.items() if not b.required and n not in keys}
    row = None
    results: list[tuple[int, Processor]] = []
    columns = _returned_columns(statement)
    if columns:
        row = namedtuple("Row", [name for name, _ in columns], rename=True)._make  # type: ignore[attr-defined]
        for i, (_, type_) in enumerate(columns):
            process = type_.dialect_impl(dialect).result_processor(dialect, None)
            if process is not None:
                results.append((i, process))
    positional = tuple(compiled.positiontup or ()) if compiled.positional else None
    return _Plan(compiled.string, positional, defaults, tuple(binds), row, tuple(results))


def _returned_columns(statement: Select[Any] | Insert | Update | Delete) -> list[tuple[str, Any]]:
    if isinstance(statement, Select) or statement._returning:  # no public "has RETURNING" flag
        return [(str(key), col.type) for key, col in statement.exported_columns.items()]
    return []


def _refuse_python_defaults(statement: Insert | Update, keys: tuple[str, ...]) -> None:
    values = getattr(statement, "_values", None) or {}  # what ``.values()`` set: no public accessor
    given = set(keys) | {k if isinstance(k, str) else k.key for k in values}
    table = statement.table
    for column in getattr(table, "columns", ()):
        fills = column.default if isinstance(statement, Insert) else column.onupdate
        if fills is not None and column.key not in given:
            raise TypeError(f"{column.key} has a Python-side default that only Connection.execute applies")
