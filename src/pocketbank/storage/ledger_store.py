"""The ledger store: loads a snapshot, runs the state machine, writes the outcome, in one transaction.

The algorithm is the same on both engines and lives here; ``ledger_sqlite`` and ``ledger_postgres`` supply the
SQL that differs (how rows are locked, how a batch is written in few round trips).

One batch is one database transaction with one commit (one fsync), whatever its size:

1. read the existing transfers with the batch's ids and the pending transfers it posts or voids;
2. lock every account involved, in ascending id order, so that concurrent batches never deadlock;
3. read, under those locks, the pending states and the ids that failed before;
4. run ``TransferMachine`` in memory;
5. write new transfers, account counters, pending states, failed ids and history with bulk statements; commit.

SQL is written out here rather than built with SQLAlchemy, for speed on the hot path. It is composed only of module
constants (column lists, placeholder lists, ``ASC``/``DESC``); every value travels as a parameter. The lint's
string-built-SQL check (ruff ``S608``) is on for the whole project and silenced here site by site, after review.

A conflict that only shows at write time (another process inserting the same new id, a serialization failure)
rolls the whole batch back and runs it again; the second run sees the other transaction's rows and answers
``exists``. A batch is never half-applied.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from pocketbank.domain.ledger import (
    Account,
    AccountBalance,
    AccountState,
    CreateAccountResult,
    LedgerSnapshot,
    PendingState,
    Transfer,
    TransferBatchOutcome,
    TransferFlags,
    TransferMachine,
    create_accounts,
    required_ids,
)
from pocketbank.domain.ledger.queries import AccountFilter, VerifyReport
from pocketbank.storage.ledger_codec import (
    ACCOUNT_COLUMNS,
    HISTORY_COLUMNS,
    TRANSFER_COLUMNS,
    account_from_row,
    account_row,
    history_from_row,
    id_bytes,
    sorted_valid_ids,
    split_lookup_rows,
    transfer_from_row,
    valid_id,
)
from pocketbank.storage.ledger_verify import verify_ledger

T = TypeVar("T")
Cursor = Any  # a DB-API cursor of sqlite3 or psycopg
MAX_ATTEMPTS = 8


class SnapshotChanged(Exception):
    """The rows a batch depends on changed while it was being loaded; the batch is run again from the start."""


class LedgerStoreBase(ABC):
    engine: str = "abstract"
    placeholder: str = "%s"

    def __init__(self) -> None:
        self._ts_lock = threading.Lock()
        self._last_ts = 0

    # -- engine hooks ---------------------------------------------------------------------------------------

    @abstractmethod
    def _write_transaction(self, work: Callable[[Cursor], T]) -> T:
        """Run ``work`` in a write transaction, retrying it whole on a transient conflict."""

    @abstractmethod
    def _read(self, work: Callable[[Cursor], T]) -> T:
        """Run ``work`` on a read cursor (a consistent snapshot where the engine offers one)."""

    @abstractmethod
    def _in(self, values: Sequence[Any]) -> tuple[str, Sequence[Any]]:
        """SQL for ``IN (values)`` and its parameters."""

    @abstractmethod
    def _lock_accounts(self, cur: Cursor, ids: list[int]) -> dict[int, AccountState]:
        """The accounts with these ids, locked in the given (ascending) order, as states the batch may change."""

    @abstractmethod
    def _write_outcome(self, cur: Cursor, outcome: TransferBatchOutcome) -> None:
        """Write everything the state machine decided."""

    @abstractmethod
    def _insert_accounts(self, cur: Cursor, rows: list[tuple[Any, ...]]) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def durability_settings(self) -> dict[str, Any]:
        """The settings that make a commit durable, read back from the live database (checked by a test)."""

    # -- writes ---------------------------------------------------------------------------------------------

    def _reserve_timestamps(self, now: int, count: int) -> int:
        """Unique, increasing timestamps for this process (ns since the epoch, bumped past collisions)."""
        with self._ts_lock:
            first = max(now, self._last_ts + 1)
            self._last_ts = first + count
            return first

    def create_accounts(self, segments: Sequence[Sequence[Account]], now: int) -> list[list[CreateAccountResult]]:
        ids = sorted({id_bytes(a.id) for seg in segments for a in seg if valid_id(a.id)})

        def work(cur: Cursor) -> list[list[CreateAccountResult]]:
            existing = {a.id: a for a in self._select_accounts(cur, ids)}
            first = self._reserve_timestamps(now, sum(len(s) for s in segments))
            results, created, _ = create_accounts(segments, existing, first)
            if created:
                self._insert_accounts(cur, [account_row(a) for a in created])
            return results

        return self._write_transaction(work)

    def create_transfers(
        self,
        segments: Sequence[Sequence[Transfer]],
        now: int,
        due: Iterable[int] = (),
        before_commit: Callable[[], None] | None = None,
    ) -> TransferBatchOutcome:
        """Apply a batch; ``due`` names pending transfers to expire if their timeout has passed (the sweeper).

        ``before_commit`` runs once the writes are queued, just before the commit is sent.
        """
        ids, pending_ids, account_ids = required_ids(segments)
        pending_ids.update(due)

        def work(cur: Cursor) -> TransferBatchOutcome:
            snapshot = self._load(cur, ids, pending_ids, account_ids)
            events = sum(len(s) for s in segments)
            first = self._reserve_timestamps(now, events + len(snapshot.pending))
            outcome = TransferMachine(snapshot, now, first).run(segments)
            self._write_outcome(cur, outcome)
            if before_commit is not None:
                before_commit()
            return outcome

        return self._write_transaction(work)

    def _load(self, cur: Cursor, ids: set[int], pending_ids: set[int], account_ids: set[int]) -> LedgerSnapshot:
        # The accounts of the pending transfers a batch posts or voids must be locked too: find them first.
        pending_keys = sorted(id_bytes(i) for i in pending_ids if valid_id(i))
        if pending_keys:
            for p in self._select_transfers(cur, pending_keys):
                if p.flags & TransferFlags.PENDING:
                    account_ids.add(p.debit_account_id)
                    account_ids.add(p.credit_account_id)
        # Everything else is read under the accounts' locks. A concurrent copy of the same transfer takes the same
        # locks, so by then it has committed and is seen here as existing (read before the locks, it was invisible
        # and the copy was judged afresh: a payment could be answered "declined" although it had been applied).
        lookup = sorted_valid_ids(ids | pending_ids)
        accounts, found, failed = self._locked_reads(cur, sorted_valid_ids(account_ids), lookup)
        transfers = {t.id: t for t in found}
        referenced = [
            transfers[p] for p in pending_ids if p in transfers and transfers[p].flags & TransferFlags.PENDING
        ]
        for p in referenced:
            if p.debit_account_id not in accounts or p.credit_account_id not in accounts:
                raise SnapshotChanged("a pending transfer appeared after its accounts were chosen for locking")
        pending = self._select_pending(cur, [id_bytes(p.id) for p in referenced]) if referenced else {}
        return LedgerSnapshot(accounts, transfers, pending, failed)

    def _locked_reads(
        self, cur: Cursor, account_ids: list[int], lookup: list[int]
    ) -> tuple[dict[int, AccountState], list[Transfer], dict[int, str]]:
        """Lock the accounts (ascending ids), then read which of the ids in ``lookup`` (ascending too) exist or failed
        before.

        In this order on purpose: the reads must come after the locks. An engine that can send both statements in
        one round trip (PostgreSQL's pipeline) overrides this.
        """
        accounts = self._lock_accounts(cur, account_ids)
        if not lookup:
            return accounts, [], {}
        cur.execute(*self._lookup_statement(lookup))
        transfers, failed = split_lookup_rows(cur.fetchall())
        return accounts, transfers, failed

    @abstractmethod
    def _lookup_statement(self, ids: list[int]) -> tuple[str, Any]:
        """One statement, with its parameters, that finds which of ``ids`` exist as transfers or as failed ids, in
        the rows ``split_lookup_rows`` reads (the ids are sent once)."""

    def due_pending(self, now: int, limit: int = 8000) -> list[int]:
        """Ids of pending transfers whose timeout has passed, oldest first."""

        def work(cur: Cursor) -> list[int]:
            p = self.placeholder
            cur.execute(
                "SELECT id FROM ledger_pending WHERE status = 1 AND expires_at > 0 AND expires_at <= "  # noqa: S608
                f"{p} ORDER BY expires_at LIMIT {p}",
                (now, limit),
            )
            return [int.from_bytes(r[0], "big") for r in cur.fetchall()]

        return self._read(work)

    # -- reads ----------------------------------------------------------------------------------------------

    def _select_accounts(self, cur: Cursor, ids: Sequence[bytes]) -> list[Account]:
        if not ids:
            return []
        sql, params = self._in(ids)
        cur.execute(f"SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id {sql}", params)  # noqa: S608
        return [account_from_row(r) for r in cur.fetchall()]

    def _select_transfers(self, cur: Cursor, ids: Sequence[bytes]) -> list[Transfer]:
        sql, params = self._in(ids)
        cur.execute(f"SELECT {TRANSFER_COLUMNS} FROM ledger_transfers WHERE id {sql}", params)  # noqa: S608
        return [transfer_from_row(r) for r in cur.fetchall()]

    def _select_pending(self, cur: Cursor, ids: Sequence[bytes]) -> dict[int, PendingState]:
        sql, params = self._in(ids)
        cur.execute(f"SELECT id, status, expires_at FROM ledger_pending WHERE id {sql}", params)  # noqa: S608
        return {int.from_bytes(r[0], "big"): PendingState(r[1], r[2]) for r in cur.fetchall()}

    def _select_failed(self, cur: Cursor, ids: Sequence[bytes]) -> dict[int, str]:
        sql, params = self._in(ids)
        cur.execute(f"SELECT id, result FROM ledger_failed WHERE id {sql}", params)  # noqa: S608
        return {int.from_bytes(r[0], "big"): r[1] for r in cur.fetchall()}

    def lookup_accounts(self, ids: Sequence[int]) -> list[Account]:
        """The accounts that exist among ``ids``, in the order asked."""
        keys = [id_bytes(i) for i in ids if valid_id(i)]
        found = {a.id: a for a in self._read(lambda cur: self._select_accounts(cur, keys))}
        return [found[i] for i in ids if i in found]

    def lookup_transfers(self, ids: Sequence[int]) -> list[Transfer]:
        keys = [id_bytes(i) for i in ids if valid_id(i)]
        if not keys:
            return []
        found = {t.id: t for t in self._read(lambda cur: self._select_transfers(cur, keys))}
        return [found[i] for i in ids if i in found]

    def pending_state(self, transfer_id: int) -> PendingState | None:
        if not valid_id(transfer_id):
            return None
        return self._read(lambda cur: self._select_pending(cur, [id_bytes(transfer_id)])).get(transfer_id)

    def failed_result(self, transfer_id: int) -> str | None:
        if not valid_id(transfer_id):
            return None
        return self._read(lambda cur: self._select_failed(cur, [id_bytes(transfer_id)])).get(transfer_id)

    def account_transfers(self, f: AccountFilter) -> list[Transfer]:
        """An account's transfers, oldest first (or newest first), filtered; page by moving the timestamp bound."""
        where, params = self._filter_sql(f, "debit_account_id", "credit_account_id")
        order = "DESC" if f.reversed else "ASC"
        sql = f"SELECT {TRANSFER_COLUMNS} FROM ledger_transfers WHERE {where} ORDER BY timestamp {order}, id {order}"  # noqa: S608

        def work(cur: Cursor) -> list[Transfer]:
            cur.execute(f"{sql} LIMIT {self.placeholder}", (*params, f.limit))
            return [transfer_from_row(r) for r in cur.fetchall()]

        return self._read(work)

    def _filter_sql(self, f: AccountFilter, debit_col: str, credit_col: str) -> tuple[str, list[Any]]:
        p = self.placeholder
        key = id_bytes(f.account_id)
        sides = []
        params: list[Any] = []
        if f.debits:
            sides.append(f"{debit_col} = {p}")
            params.append(key)
        if f.credits:
            sides.append(f"{credit_col} = {p}")
            params.append(key)
        clauses = ["(" + " OR ".join(sides) + ")"] if sides else ["1 = 0"]
        if f.timestamp_min:
            clauses.append(f"timestamp >= {p}")
            params.append(f.timestamp_min)
        if f.timestamp_max:
            clauses.append(f"timestamp <= {p}")
            params.append(f.timestamp_max)
        if f.code:
            clauses.append(f"code = {p}")
            params.append(f.code)
        return " AND ".join(clauses), params

    def account_balances(self, f: AccountFilter) -> list[AccountBalance]:
        """Historical balances of an account with the HISTORY flag, one per transfer that changed it."""
        p = self.placeholder
        clauses = [f"account_id = {p}"]
        params: list[Any] = [id_bytes(f.account_id)]
        if f.timestamp_min:
            clauses.append(f"timestamp >= {p}")
            params.append(f.timestamp_min)
        if f.timestamp_max:
            clauses.append(f"timestamp <= {p}")
            params.append(f.timestamp_max)
        order = "DESC" if f.reversed else "ASC"
        sql = (
            f"SELECT {HISTORY_COLUMNS} FROM ledger_account_history WHERE {' AND '.join(clauses)} "  # noqa: S608
            f"ORDER BY timestamp {order} LIMIT {p}"
        )

        def work(cur: Cursor) -> list[AccountBalance]:
            cur.execute(sql, (*params, f.limit))
            return [history_from_row(r) for r in cur.fetchall()]

        return self._read(work)

    def verify(self) -> VerifyReport:
        """Check the invariants from scratch: per ledger debits = credits; counters = sums of transfers."""
        return self._read(verify_ledger)
