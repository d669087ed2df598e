"""The ledger on SQLite: an embedded file in WAL mode with ``synchronous=FULL``.

SQLite has one writer at a time. Inside a process a lock queues writers; across processes ``BEGIN IMMEDIATE``
takes the write lock up front (so a transaction never has to upgrade a read lock and die with SQLITE_BUSY half
way), and ``busy_timeout`` makes other processes wait their turn. With the write lock held no other writer can
change a row, so "locking the accounts" is simply reading them.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pocketbank.domain.ledger import AccountState, TransferBatchOutcome
from pocketbank.storage.ledger_codec import (
    ACCOUNT_COLUMNS,
    ACCOUNT_STATE_COLUMNS,
    TRANSFER_COLUMNS,
    account_state_from_row,
    history_row,
    id_bytes,
    transfer_row,
)
from pocketbank.storage.ledger_store import MAX_ATTEMPTS, Cursor, LedgerStoreBase, SnapshotChanged

T = TypeVar("T")

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=60000",
)
CACHE_LIMIT = 100_000  # accounts
WRITER_CACHE = "PRAGMA cache_size=-65536"  # 64 MiB for the one writer connection; readers keep the default


def connect(path: str, *, writer: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    if writer:
        conn.execute(WRITER_CACHE)
    return conn


class SqliteLedgerStore(LedgerStoreBase):
    engine = "sqlite"
    placeholder = "?"

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None  # one connection for every write of this store
        # Committed account states, valid while no other connection has written (PRAGMA data_version unchanged):
        # a batch then needs no SELECT and no decoding for accounts it has seen before.
        self._cache: dict[int, AccountState] = {}
        self._cache_version = -1
        self._fresh: dict[int, AccountState] = {}  # states read or written by the transaction in progress
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def close(self) -> None:
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        self._local = threading.local()

    def _write_transaction(self, work: Callable[[Cursor], T]) -> T:
        with self._write_lock:
            if self._writer is None:
                self._writer = connect(self.path, writer=True)
            conn = self._writer
            for attempt in range(MAX_ATTEMPTS):
                cur = conn.cursor()
                cur.execute("BEGIN IMMEDIATE")
                self._fresh = {}
                try:
                    self._check_cache(cur)
                    result = work(cur)
                    cur.execute("COMMIT")
                    self._remember(self._fresh)
                    return result
                except (sqlite3.IntegrityError, SnapshotChanged):
                    # Another process inserted one of our new ids between our read and our write; run the batch
                    # again so it sees that row. A CHECK failure is a bug and re-raises after the last attempt.
                    cur.execute("ROLLBACK")
                    if attempt == MAX_ATTEMPTS - 1:
                        raise
                except BaseException:
                    if conn.in_transaction:
                        cur.execute("ROLLBACK")
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _check_cache(self, cur: Cursor) -> None:
        """Forget cached accounts if another connection (another process) has committed since we last wrote."""
        version = cur.execute("PRAGMA data_version").fetchone()[0]
        if version != self._cache_version:
            self._cache.clear()
            self._cache_version = version

    def _remember(self, states: dict[int, AccountState]) -> None:
        if len(self._cache) + len(states) > CACHE_LIMIT:
            self._cache.clear()  # crude but bounded: the memory of a million accounts must stay small
        self._cache.update(states)

    def _read(self, work: Callable[[Cursor], T]) -> T:
        conn = self._conn()
        cur = conn.cursor()
        # A deferred transaction gives every statement of ``work`` the same snapshot in WAL mode.
        cur.execute("BEGIN")
        try:
            return work(cur)
        finally:
            cur.execute("COMMIT")

    def durability_settings(self) -> dict[str, Any]:
        names = ("journal_mode", "synchronous", "foreign_keys")
        return self._read(lambda cur: {n: cur.execute(f"PRAGMA {n}").fetchone()[0] for n in names})

    def _in(self, values: Sequence[Any]) -> tuple[str, Sequence[Any]]:
        return "IN (" + ",".join("?" * len(values)) + ")", values

    def _lock_accounts(self, cur: Cursor, ids: list[int]) -> dict[int, AccountState]:
        # The write lock is held, so nothing can change under us; committed states come from the cache when it is
        # valid, as copies, because the batch changes them in place and may still roll back.
        cache = self._cache
        out: dict[int, AccountState] = {}
        missing: list[bytes] = []
        for i in ids:
            s = cache.get(i)
            if s is None:
                missing.append(i.to_bytes(16, "big"))
            else:
                out[i] = AccountState(i, s.ledger, s.flags, s.dp, s.dpo, s.cp, s.cpo)
        if missing:
            sql, params = self._in(missing)
            cur.execute(f"SELECT {ACCOUNT_STATE_COLUMNS} FROM ledger_accounts WHERE id {sql}", params)
            for row in cur.fetchall():
                fetched = account_state_from_row(row)
                out[fetched.id] = fetched
                self._fresh[fetched.id] = AccountState(
                    fetched.id, fetched.ledger, fetched.flags, fetched.dp, fetched.dpo, fetched.cp, fetched.cpo
                )
        return out

    def _insert_accounts(self, cur: Cursor, rows: list[tuple[Any, ...]]) -> None:
        cur.executemany(f"INSERT INTO ledger_accounts ({ACCOUNT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)

    def _write_outcome(self, cur: Cursor, o: TransferBatchOutcome) -> None:
        for state in o.accounts:  # the machine is done with them: after the commit they are the committed state
            self._fresh[state.id] = state
        if o.transfers:
            cur.executemany(
                f"INSERT INTO ledger_transfers ({TRANSFER_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [transfer_row(t) for t in o.transfers],
            )
        if o.accounts:
            cur.executemany(
                "UPDATE ledger_accounts SET debits_pending = ?, debits_posted = ?, credits_pending = ?, "
                "credits_posted = ?, flags = ? WHERE id = ?",
                [(a.dp, a.dpo, a.cp, a.cpo, a.flags, a.id.to_bytes(16, "big")) for a in o.accounts],
            )
        if o.pending_created:
            cur.executemany(
                "INSERT INTO ledger_pending (id, status, expires_at) VALUES (?,?,?)",
                [(id_bytes(i), s.status, s.expires_at) for i, s in o.pending_created.items()],
            )
        if o.pending_changed:
            cur.executemany(
                "UPDATE ledger_pending SET status = ? WHERE id = ? AND status = 1",
                [(s.status, id_bytes(i)) for i, s in o.pending_changed.items()],
            )
            if cur.rowcount != -1 and cur.rowcount != len(o.pending_changed):
                raise sqlite3.IntegrityError("a pending transfer left the pending state twice")
        if o.failed:
            cur.executemany(
                "INSERT OR IGNORE INTO ledger_failed (id, result) VALUES (?,?)",
                [(id_bytes(i), code) for i, code in o.failed],
            )
        if o.history:
            cur.executemany(
                "INSERT INTO ledger_account_history VALUES (?,?,?,?,?,?,?)", [history_row(h) for h in o.history]
            )
