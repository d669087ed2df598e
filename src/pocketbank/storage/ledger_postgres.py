"""The ledger on PostgreSQL (psycopg 3), with durable defaults.

Several batches may run at once here, from several threads or processes. Each locks its accounts with
``SELECT ... ORDER BY id FOR UPDATE``: PostgreSQL takes row locks as the sorted rows stream out, so every batch
locks in ascending id order and two batches can never wait on each other in a cycle. A batch's writes are sent as
a handful of set-based statements over ``unnest`` of one array per column (``INSERT ... SELECT`` for new rows,
``UPDATE ... FROM`` for counters), queued in one pipeline with the commit, because a batch only helps when it cuts
round trips. The arrays travel as text literals (``pg_arrays``): building them is far cheaper than psycopg's
binary array dumper, which was the writer's largest cost for small batches.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors

from pocketbank.domain.ledger import AccountState, Transfer, TransferBatchOutcome
from pocketbank.domain.ledger.queries import VerifyReport
from pocketbank.storage import pg_arrays as arr
from pocketbank.storage.ledger_codec import (
    ACCOUNT_COLUMNS,
    ACCOUNT_STATE_COLUMNS,
    FAILED_AS_TRANSFER_COLUMNS,
    HISTORY_COLUMNS,
    TRANSFER_COLUMNS,
    account_state_from_row,
    split_lookup_rows,
)
from pocketbank.storage.ledger_store import MAX_ATTEMPTS, Cursor, LedgerStoreBase, SnapshotChanged
from pocketbank.storage.ledger_verify import verify_ledger
from pocketbank.storage.pg_connections import BoundedConnections, pipelined_transaction

T = TypeVar("T")

# Conflicts that only mean "run the batch again": it will then see the other transaction's committed rows.
RETRYABLE = (
    pg_errors.UniqueViolation,
    pg_errors.DeadlockDetected,
    pg_errors.SerializationFailure,
    SnapshotChanged,
)

_INSERT_TRANSFERS = (
    f"INSERT INTO ledger_transfers ({TRANSFER_COLUMNS}) SELECT * FROM unnest("  # noqa: S608
    "%s::bytea[], %s::bytea[], %s::bytea[], %s::int8[], %s::bytea[], %s::int8[], %s::int4[], %s::int4[], "
    "%s::int8[], %s::bytea[], %s::bytea[], %s::int8[], %s::int8[])"
)
_INSERT_HISTORY = (
    f"INSERT INTO ledger_account_history ({HISTORY_COLUMNS}) SELECT * FROM unnest("  # noqa: S608
    "%s::bytea[], %s::int8[], %s::bytea[], %s::int8[], %s::int8[], %s::int8[], %s::int8[])"
)
# Each changed account's row is found by the ctid the lock read it at, not by its id: a TID scan goes straight to
# the row, where the id is one index descent per account (measured: 1,900 accounts updated in 5.4 ms instead of
# 7.3). That is sound because a row this transaction has locked FOR UPDATE stays where it is until this transaction
# updates it: no other transaction may update or delete it, VACUUM and HOT pruning never move a live row, and a
# batch updates each account once.
_UPDATE_ACCOUNTS = (
    "UPDATE ledger_accounts a SET debits_pending = v.dp, debits_posted = v.dpo, credits_pending = v.cp, "
    "credits_posted = v.cpo, flags = v.flags "
    "FROM unnest(%s::tid[], %s::int8[], %s::int8[], %s::int8[], %s::int8[], %s::int4[]) "
    "AS v(row, dp, dpo, cp, cpo, flags) WHERE a.ctid = v.row"
)
# Which of a batch's ids exist, as transfers or as failed ids: one statement, the ids sent once. A failed id's row
# carries its result code in the last column, where a transfer's has NULL.
_LOOKUP = (
    f"SELECT {TRANSFER_COLUMNS}, NULL FROM ledger_transfers WHERE id = ANY(%(ids)s::bytea[]) UNION ALL "  # noqa: S608
    f"SELECT {FAILED_AS_TRANSFER_COLUMNS} FROM ledger_failed WHERE id = ANY(%(ids)s::bytea[])"
)


# The columns of each statement above, in its order: (record attribute, literal encoder).
_TRANSFER_SPEC = arr.spec(
    ("id", arr.ids), ("debit_account_id", arr.ids), ("credit_account_id", arr.ids), ("amount", arr.ints),
    ("pending_id", arr.ids_or_null), ("ledger", arr.ints), ("code", arr.ints), ("flags", arr.ints),
    ("timeout", arr.ints), ("user_data_128", arr.user_data(16)), ("user_data_64", arr.user_data(8)),
    ("user_data_32", arr.ints), ("timestamp", arr.ints),
)  # fmt: skip
_COUNTER_SPEC = arr.spec(("dp", arr.ints), ("dpo", arr.ints), ("cp", arr.ints), ("cpo", arr.ints), ("flags", arr.ints))
_HISTORY_SPEC = arr.spec(
    ("account_id", arr.ids), ("timestamp", arr.ints), ("transfer_id", arr.ids), ("debits_pending", arr.ints),
    ("debits_posted", arr.ints), ("credits_pending", arr.ints), ("credits_posted", arr.ints),
)  # fmt: skip


_LOCK_ACCOUNTS = (
    f"SELECT {ACCOUNT_STATE_COLUMNS}, ctid FROM ledger_accounts WHERE id = ANY(%s::bytea[]) ORDER BY id FOR UPDATE"  # noqa: S608
)


# Connections per process: the group-commit writers' and the reads' (a look-up holds one for a few milliseconds).
POOL_SIZE = 8
APPLICATION_NAME = "pocketbank-ledger"  # how the store's sessions show in pg_stat_activity


def _configure(conn: psycopg.Connection[Any]) -> None:
    # The ledger's statements find rows by key, a few to a thousand ids at a time: an index look-up each. A
    # statement's plan is made once per connection (psycopg prepares it after a few runs), often while the tables
    # are still small, where a scan is cheapest; the plan then stays a scan as the table grows (measured: 323 scans
    # of ledger_transfers in an 8-second API run, a look-up of a dozen ids taking 1.9-3.3 ms instead of 0.02).
    # Planning each run afresh instead (plan_cache_mode) cost more than it saved: a thousand-id array is costly to
    # plan. ``verify``, which does read whole tables, turns scans back on for its own transaction.
    conn.execute("SET enable_seqscan = off")
    conn.commit()


def libpq_url(url: str) -> str:
    """Accept SQLAlchemy's ``postgresql+psycopg://`` spelling as well as libpq's."""
    for prefix in ("postgresql+psycopg://", "postgres+psycopg://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


class PostgresLedgerStore(LedgerStoreBase):
    engine = "postgres"
    placeholder = "%s"

    def __init__(self, url: str, pool_size: int = POOL_SIZE) -> None:
        super().__init__()
        self.url = libpq_url(url)
        self._local = threading.local()  # the rows a transaction locked, for its own thread
        # A bounded pool, not a connection per thread: a server runs dozens of request threads per worker process,
        # and one connection each for every thread that ever read the ledger exhausted PostgreSQL's connections
        # (100 by default) under load, with "too many clients" errors. A thread beyond the pool waits its turn.
        self._pool = BoundedConnections(self._open, pool_size)

    def _open(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self.url, autocommit=False, application_name=APPLICATION_NAME)
        try:
            _configure(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _conn(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        """A connection for one transaction; the caller ends the transaction before the block ends. One that broke
        (a server restart) is dropped when it comes back, and the next caller opens a fresh one."""
        return self._pool.connection()

    def close(self) -> None:
        self._pool.close()
        self._local = threading.local()

    def _write_transaction(self, work: Callable[[Cursor], T]) -> T:
        with self._conn() as conn:
            return self._run_write(conn, work)

    def _run_write(self, conn: psycopg.Connection[Any], work: Callable[[Cursor], T]) -> T:
        for attempt in range(MAX_ATTEMPTS):
            try:
                # BEGIN goes with the locking reads, the writes with COMMIT: two round trips (pipelined_transaction).
                with conn.cursor() as cur, pipelined_transaction(conn):
                    result = work(cur)
                return result
            except RETRYABLE:  # already rolled back
                if attempt == MAX_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, work: Callable[[Cursor], T]) -> T:
        with self._conn() as conn:
            try:
                with conn.cursor() as cur:
                    return work(cur)
            finally:
                if not conn.closed:
                    conn.rollback()

    def verify(self) -> VerifyReport:
        def work(cur: Cursor) -> VerifyReport:
            cur.execute("SET LOCAL enable_seqscan = on")  # whole-table sums: here a scan is the right plan
            return verify_ledger(cur)

        return self._read(work)

    def durability_settings(self) -> dict[str, Any]:
        def work(cur: Cursor) -> dict[str, Any]:
            out = {}
            for name in ("fsync", "synchronous_commit", "full_page_writes", "data_sync_retry"):
                cur.execute(f"SHOW {name}")
                out[name] = cur.fetchone()[0]
            return out

        return self._read(work)

    def _in(self, values: Sequence[Any]) -> tuple[str, Sequence[Any]]:
        return "= ANY(%s::bytea[])", [arr.byteas(values)]

    def _lock_accounts(self, cur: Cursor, ids: list[int]) -> dict[int, AccountState]:
        if ids:
            cur.execute(_LOCK_ACCOUNTS, [arr.ids(ids)])
        return self._locked_states(cur if ids else None)

    def _locked_states(self, cur: Cursor | None) -> dict[int, AccountState]:
        """The result of ``_LOCK_ACCOUNTS`` (None: nothing was locked): the states a batch changes. Where each row is
        (its ctid) is kept for this thread's transaction, for ``_write_outcome``'s update."""
        rows = cur.fetchall() if cur is not None else []
        states = {a.id: a for a in map(account_state_from_row, rows)}
        self._local.rows_at = dict(zip(states, [r[7] for r in rows], strict=True))
        return states

    def _locked_reads(
        self, cur: Cursor, account_ids: list[int], lookup: list[int]
    ) -> tuple[dict[int, AccountState], list[Transfer], dict[int, str]]:
        """The lock and both reads queued before any result is fetched: one round trip instead of three.

        The server still runs them in order within the transaction, so the reads see what the lock waited for.
        """
        if not lookup:
            return self._lock_accounts(cur, account_ids), [], {}
        with cur.connection.cursor() as lookup_cur:
            if account_ids:
                cur.execute(_LOCK_ACCOUNTS, [arr.ids(account_ids)])
            lookup_cur.execute(*self._lookup_statement(lookup))
            accounts = self._locked_states(cur if account_ids else None)
            transfers, failed = split_lookup_rows(lookup_cur.fetchall())
        return accounts, transfers, failed

    def _lookup_statement(self, ids: list[int]) -> tuple[str, Any]:
        return _LOOKUP, {"ids": arr.ids(ids)}

    def _insert_accounts(self, cur: Cursor, rows: list[tuple[Any, ...]]) -> None:
        cur.executemany(
            f"INSERT INTO ledger_accounts ({ACCOUNT_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",  # noqa: S608
            rows,
        )

    def _write_outcome(self, cur: Cursor, o: TransferBatchOutcome) -> None:
        # INSERT ... SELECT FROM unnest(arrays) rather than COPY: one statement that can share the pipeline (and so
        # the round trip) with the updates and the commit. The arrays go as text literals: see ``pg_arrays``.
        if o.transfers:
            cur.execute(_INSERT_TRANSFERS, arr.columns(o.transfers, _TRANSFER_SPEC))
        if o.accounts:
            rows_at: dict[int, str] = self._local.rows_at  # this transaction's lock, in this thread
            rows = arr.tids([rows_at[a.id] for a in o.accounts])
            cur.execute(_UPDATE_ACCOUNTS, [rows, *arr.columns(o.accounts, _COUNTER_SPEC)])
        if o.pending_created:
            items = list(o.pending_created.items())
            cur.execute(
                "INSERT INTO ledger_pending (id, status, expires_at) "
                "SELECT * FROM unnest(%s::bytea[], %s::int2[], %s::int8[])",
                [arr.ids([i for i, _ in items]), arr.ints([s.status for _, s in items]),
                 arr.ints([s.expires_at for _, s in items])],
            )  # fmt: skip
        if o.pending_changed:
            items = list(o.pending_changed.items())
            cur.execute(
                "UPDATE ledger_pending p SET status = v.status FROM unnest(%s::bytea[], %s::int2[]) AS v(id, status) "
                "WHERE p.id = v.id AND p.status = 1 RETURNING p.id",
                [arr.ids([i for i, _ in items]), arr.ints([s.status for _, s in items])],
            )
            if len(cur.fetchall()) != len(items):  # fetching forces the pipeline to sync here
                # The accounts lock makes this impossible; if it ever happens, refuse rather than double-release.
                raise pg_errors.SerializationFailure("a pending transfer left the pending state twice")
        if o.failed:
            cur.execute(
                "INSERT INTO ledger_failed (id, result) SELECT * FROM unnest(%s::bytea[], %s::text[]) "
                "ON CONFLICT (id) DO NOTHING",
                [arr.ids([i for i, _ in o.failed]), arr.codes([code for _, code in o.failed])],
            )
        if o.history:
            cur.execute(_INSERT_HISTORY, arr.columns(o.history, _HISTORY_SPEC))
