"""The ledger on SQLite: an embedded file in WAL mode with ``synchronous=FULL``.

SQLite has one writer at a time. Inside a process a lock queues writers; across processes ``BEGIN IMMEDIATE``
takes the write lock up front (so a transaction never has to upgrade a read lock and die with SQLITE_BUSY half
way), and ``busy_timeout`` makes other processes wait their turn. With the write lock held no other writer can
change a row, so "locking the accounts" is simply reading them.

A commit costs roughly one 4 KiB WAL frame per page it changed, so the layout is chosen to change few pages: new
transfers are appended to the timestamp index, and an account's transfers are found through ``ledger_postings``,
which is written in bulk every ``FOLD_AT`` transfers rather than at random places on every commit (``schema.py``
explains it).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from itertools import chain
from typing import Any, TypeVar

from pocketbank.domain.ledger import AccountState, Transfer, TransferBatchOutcome
from pocketbank.domain.ledger.queries import AccountFilter, VerifyReport
from pocketbank.storage.ledger_codec import (
    ACCOUNT_COLUMNS,
    ACCOUNT_STATE_COLUMNS,
    FAILED_AS_TRANSFER_COLUMNS,
    TRANSFER_COLUMNS,
    history_row,
    id_bytes,
    plain_transfer_rows,
    transfer_from_row,
    transfer_rows,
)
from pocketbank.storage.ledger_store import MAX_ATTEMPTS, Cursor, LedgerStoreBase, SnapshotChanged
from pocketbank.storage.ledger_verify import verify_ledger, verify_postings
from pocketbank.storage.schema import FOLDED_UNTIL

T = TypeVar("T")

# Every connection's settings; bench/ledger.py's raw-SQL baseline runs with exactly these, so the writer's own
# tuning goes in WRITER_PRAGMAS.
PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=60000",
)
WRITER_PRAGMAS = (
    "PRAGMA cache_size=-65536",  # 64 MiB for the one writer connection; readers keep the default
    # Checkpoint every 32 MiB of WAL instead of every 4 MiB: a batch rewrites the same account pages as the batch
    # before it, and each checkpoint copies a page once however many commits changed it. Durability is the WAL's
    # fsync at every commit, not the checkpoint.
    "PRAGMA wal_autocheckpoint=8192",
    "PRAGMA temp_store=MEMORY",  # the fold sorts its postings
)
CACHE_LIMIT = 100_000  # accounts
FOLD_AT = 16_384  # transfers newer than the last fold; a look-up scans at most this many index entries

_INSERT_TRANSFERS = f"INSERT INTO ledger_transfers ({TRANSFER_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"  # noqa: S608
_PLAIN_ROW = "(?,?,?,?,NULL,?,?,?,0,X'',X'',0,?)"  # zero user data: no bytes (ledger_codec)
_INSERT_PLAIN_TRANSFERS = f"INSERT INTO ledger_transfers ({TRANSFER_COLUMNS}) VALUES {_PLAIN_ROW}"  # noqa: S608
# Plain transfers go in statements of 64 rows each, then one by one for the rest: executemany's cost per statement
# run (bind, step, reset, and the loop in Python) was a quarter of a 1000-row insert. Measured on the ledger's own
# table and index: 3.0-3.5 ms per 1000 rows one by one, 2.3-2.7 in statements of 32 to 128 rows (2.1-2.3 in one
# statement of 1000, whose text would change with every batch size). 64 rows bind 512 values, far below SQLite's
# limit of 32,766.
_ROWS_PER_INSERT = 64
_INSERT_PLAIN_CHUNK = (
    f"INSERT INTO ledger_transfers ({TRANSFER_COLUMNS}) VALUES "  # noqa: S608
    + ",".join([_PLAIN_ROW] * _ROWS_PER_INSERT)
)
_UPDATE_ACCOUNTS = (
    "UPDATE ledger_accounts SET debits_pending = ?, debits_posted = ?, credits_pending = ?, credits_posted = ?, "
    "flags = ? WHERE id = ?"
)
_RECENT = "ledger_transfers INDEXED BY ix_ledger_transfers_recent"  # the transfers by timestamp (schema.py)
# Sorted, a generation's postings are appended in key order: full pages, written once. ?1 is the last fold's newest
# timestamp, ?2 the new generation. One scan of the recent transfers gives both postings of each (a join with two
# rows, debit side and credit side): 15% faster than a UNION ALL of two scans.
_FOLD = (
    "INSERT INTO ledger_postings (generation, account_id, timestamp) "  # noqa: S608
    "SELECT ?2, CASE side.column1 WHEN 0 THEN debit_account_id ELSE credit_account_id END, timestamp "
    f"FROM {_RECENT} CROSS JOIN (VALUES (0), (1)) AS side WHERE timestamp > ?1 ORDER BY 2, 3"
)


@lru_cache(maxsize=64)
def _lookup_sql(n: int) -> str:
    """Which of ``n`` ids exist, as transfers or as failed ids, in one statement; the ids are numbered parameters
    that both IN lists share, so they are bound once."""
    marks = ",".join([f"?{k}" for k in range(1, n + 1)])
    return (
        f"SELECT {TRANSFER_COLUMNS}, NULL FROM ledger_transfers WHERE id IN ({marks}) UNION ALL "  # noqa: S608
        f"SELECT {FAILED_AS_TRANSFER_COLUMNS} FROM ledger_failed WHERE id IN ({marks})"
    )


_T_COLUMNS = ", ".join("t." + c for c in TRANSFER_COLUMNS.split(", "))


def connect(path: str, *, writer: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
    for pragma in PRAGMAS + (WRITER_PRAGMAS if writer else ()):
        conn.execute(pragma)
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
        # a batch then needs no SELECT and no decoding for accounts it has seen before. The batch changes these
        # objects in place, so a batch that does not commit empties the cache.
        self._cache: dict[int, AccountState] = {}
        self._cache_version = -1
        self._fresh: dict[int, AccountState] = {}  # states read by the transaction in progress
        self._unfolded: int | None = None  # transfers newer than the last fold, None = ask the database
        # No id above this one is in ledger_transfers or ledger_failed (None = ask the database). A batch whose ids
        # are all higher needs no look-up: with increasing ids, as TigerBeetle advises clients to use, that is
        # every batch. It may be too high (safe: only a look-up more), never too low. ``_top`` is the batch's.
        self._highest: int | None = None
        self._top = 0
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
                self._top = 0
                try:
                    self._check_cache(cur)
                    result = work(cur)
                    cur.execute("COMMIT")
                    self._remember(self._fresh)
                    if self._highest is not None and self._top > self._highest:
                        self._highest = self._top
                    return result
                except (sqlite3.IntegrityError, SnapshotChanged):
                    # Another process inserted one of our new ids between our read and our write; run the batch
                    # again so it sees that row. A CHECK failure is a bug and re-raises after the last attempt.
                    cur.execute("ROLLBACK")
                    self._forget()
                    if attempt == MAX_ATTEMPTS - 1:
                        raise
                except BaseException:
                    if conn.in_transaction:
                        cur.execute("ROLLBACK")
                    self._forget()
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _check_cache(self, cur: Cursor) -> None:
        """Forget what we know if another connection (another process) has committed since we last wrote.

        Then also catch up with its timestamps: ours must be newer than every committed transfer's, so that
        timestamps increase in commit order across processes too, as generations and look-ups assume.
        """
        version = cur.execute("PRAGMA data_version").fetchone()[0]
        if version != self._cache_version:
            self._forget()
            self._cache_version = version
            last = cur.execute("SELECT max(timestamp) FROM ledger_transfers").fetchone()[0]
            if last is not None:
                with self._ts_lock:
                    self._last_ts = max(self._last_ts, last)

    def _forget(self) -> None:
        self._cache.clear()
        self._unfolded = None
        self._highest = None

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
        # The write lock is held, so nothing can change under us: committed states come from the cache when it is
        # valid. They are handed out as they are, not copied, because a batch that rolls back empties the cache.
        get = self._cache.get
        out = {i: s for i in ids if (s := get(i)) is not None}
        if len(out) < len(ids):
            missing = [i.to_bytes(16, "big") for i in ids if i not in out]
            sql, params = self._in(missing)
            cur.execute(f"SELECT {ACCOUNT_STATE_COLUMNS} FROM ledger_accounts WHERE id {sql}", params)  # noqa: S608
            fresh = self._fresh
            for r in cur.fetchall():
                state = AccountState(int.from_bytes(r[0], "big"), r[1], r[2], r[3], r[4], r[5], r[6])
                out[state.id] = fresh[state.id] = state
        return out

    def _locked_reads(
        self, cur: Cursor, account_ids: list[int], lookup: list[int]
    ) -> tuple[dict[int, AccountState], list[Transfer], dict[int, str]]:
        """As the base class does, without the look-up when every id is above the highest stored one (the write
        lock is held, and another process's commit resets ``_highest``: see ``_check_cache``)."""
        if not lookup:
            return super()._locked_reads(cur, account_ids, lookup)
        self._top = lookup[-1]  # ascending; every id this batch can write is in it (its events' ids)
        highest = self._highest
        if highest is None:
            cur.execute("SELECT (SELECT max(id) FROM ledger_transfers), (SELECT max(id) FROM ledger_failed)")
            highest = self._highest = max((int.from_bytes(b, "big") for b in cur.fetchone() if b), default=0)
        if lookup[0] > highest:
            return self._lock_accounts(cur, account_ids), [], {}
        return super()._locked_reads(cur, account_ids, lookup)

    def _lookup_statement(self, ids: list[int]) -> tuple[str, Any]:
        return _lookup_sql(len(ids)), [id_bytes(i) for i in ids]

    def _insert_accounts(self, cur: Cursor, rows: list[tuple[Any, ...]]) -> None:
        cur.executemany(f"INSERT INTO ledger_accounts ({ACCOUNT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)  # noqa: S608

    def _write_outcome(self, cur: Cursor, o: TransferBatchOutcome) -> None:
        if o.transfers:
            plain, other = plain_transfer_rows(o.transfers)
            chunked = len(plain) - len(plain) % _ROWS_PER_INSERT
            if chunked:
                cur.executemany(
                    _INSERT_PLAIN_CHUNK,
                    [
                        list(chain.from_iterable(plain[i : i + _ROWS_PER_INSERT]))
                        for i in range(0, chunked, _ROWS_PER_INSERT)
                    ],
                )
            if chunked < len(plain):
                cur.executemany(_INSERT_PLAIN_TRANSFERS, plain[chunked:])
            if other:
                cur.executemany(_INSERT_TRANSFERS, transfer_rows(other))
        if o.accounts:
            cur.executemany(
                _UPDATE_ACCOUNTS, [(a.dp, a.dpo, a.cp, a.cpo, a.flags, a.id.to_bytes(16, "big")) for a in o.accounts]
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
        if o.transfers:
            self._fold_if_due(cur, len(o.transfers))

    def _fold_if_due(self, cur: Cursor, added: int) -> None:
        """Fold the transfers newer than the last generation into a new one once there are ``FOLD_AT`` of them (in
        the batch's transaction, so a fold is never half done)."""
        if self._unfolded is None:
            cur.execute(f"SELECT count(*) FROM {_RECENT} WHERE timestamp > ({FOLDED_UNTIL})")  # noqa: S608
            self._unfolded = cur.fetchone()[0]
        else:
            self._unfolded += added
        if self._unfolded < FOLD_AT:
            return
        folded_until, generation = cur.execute(
            f"SELECT ({FOLDED_UNTIL}), coalesce(max(generation), 0) + 1 FROM ledger_posting_generations"  # noqa: S608
        ).fetchone()
        cur.execute(
            "INSERT INTO ledger_posting_generations (generation, first_timestamp, last_timestamp) "  # noqa: S608
            f"SELECT ?2, min(timestamp), max(timestamp) FROM {_RECENT} WHERE timestamp > ?1",
            (folded_until, generation),
        )
        cur.execute(_FOLD, (folded_until, generation))
        self._unfolded = 0

    # -- reads ----------------------------------------------------------------------------------------------

    def account_transfers(self, f: AccountFilter) -> list[Transfer]:
        """An account's transfers in timestamp order: the generations of ledger_postings oldest first, then the
        transfers newer than all of them (the other way round when reversed); stop at the limit."""
        if not (f.debits or f.credits):
            return []
        key = id_bytes(f.account_id)
        folded = ["g.last_timestamp >= ?", "g.first_timestamp <= ?"]
        folded_params: list[Any] = [f.timestamp_min, f.timestamp_max or 2**63 - 1]  # 0 = unbounded
        recent_params: list[Any]
        if f.debits and f.credits:
            recent, recent_params = ["(t.debit_account_id = ? OR t.credit_account_id = ?)"], [key, key]
        else:
            side = "debit_account_id" if f.debits else "credit_account_id"
            folded.append(f"t.{side} = ?")
            folded_params.append(key)
            recent, recent_params = [f"t.{side} = ?"], [key]
        for clause, value in (("timestamp >= ?", f.timestamp_min), ("timestamp <= ?", f.timestamp_max)):
            if value:
                folded.append("p." + clause)
                folded_params.append(value)
                recent.append("t." + clause)
                recent_params.append(value)
        if f.code:
            for where, params in ((folded, folded_params), (recent, recent_params)):
                where.append("t.code = ?")
                params.append(f.code)
        order = "DESC" if f.reversed else "ASC"
        # One B-tree descent per generation, then the account's postings in that generation, already in
        # timestamp order: no sort, and it stops at the limit. Each posting's transfer is found by its timestamp
        # (unique) through the timestamp index, then by its id. CROSS JOIN fixes that join order (SQLite's planner,
        # without statistics, would rather scan every posting and sort).
        folded_sql = (
            f"SELECT {_T_COLUMNS} FROM ledger_posting_generations g "  # noqa: S608
            "CROSS JOIN ledger_postings p ON p.generation = g.generation AND p.account_id = ? "
            "CROSS JOIN ledger_transfers AS t INDEXED BY ix_ledger_transfers_recent ON t.timestamp = p.timestamp "
            f"WHERE {' AND '.join(folded)} ORDER BY g.generation {order}, p.timestamp {order} LIMIT ?"
        )
        # The timestamp index from the last fold on: it holds both accounts, so only matching transfers are read
        # from the table. Timestamps are unique, so they alone give the order, the index's own.
        recent_sql = (
            f"SELECT {_T_COLUMNS} FROM ledger_transfers AS t INDEXED BY ix_ledger_transfers_recent "  # noqa: S608
            f"WHERE t.timestamp > ({FOLDED_UNTIL}) AND {' AND '.join(recent)} ORDER BY t.timestamp {order} LIMIT ?"
        )
        arms: list[tuple[str, list[Any]]] = [(folded_sql, [key, *folded_params]), (recent_sql, recent_params)]

        def work(cur: Cursor) -> list[Transfer]:
            found: list[Transfer] = []
            for sql, params in arms[::-1] if f.reversed else arms:
                if len(found) < f.limit:
                    cur.execute(sql, (*params, f.limit - len(found)))
                    found += map(transfer_from_row, cur.fetchall())
            return found

        return self._read(work)

    def verify(self) -> VerifyReport:
        """The engine-independent checks, and that every transfer can be found from both of its accounts."""

        def work(cur: Cursor) -> VerifyReport:
            report = verify_ledger(cur)
            problems = verify_postings(cur)
            if not problems:
                return report
            return VerifyReport(report.accounts, report.transfers, report.problems + tuple(problems))

        return self._read(work)
