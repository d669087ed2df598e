"""Ledger use cases: create accounts and transfers, expire holds, look things up, close accounts, verify.

The service owns the clock and, when enabled, the group committer; the store behind the ``LedgerStore`` port owns
the SQL. Every call is one unit of work: it applies entirely or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from pocketbank.domain.clock import Clock
from pocketbank.domain.ledger import (
    Account,
    AccountBalance,
    AccountFlags,
    CreateAccountResult,
    CreateTransferResult,
    PendingState,
    Transfer,
    TransferBatchOutcome,
    TransferFlags,
)
from pocketbank.domain.ledger.queries import AccountFilter, VerifyReport
from pocketbank.services.group_commit import GroupCommitter


class LedgerStore(Protocol):
    """The port a storage engine implements (``storage.ledger_sqlite`` and ``storage.ledger_postgres``)."""

    engine: str

    def create_accounts(self, segments: Sequence[Sequence[Account]], now: int) -> list[list[CreateAccountResult]]: ...

    def create_transfers(
        self,
        segments: Sequence[Sequence[Transfer]],
        now: int,
        due: Sequence[int] = (),
        before_commit: Callable[[], None] | None = None,
    ) -> TransferBatchOutcome:
        """Apply a batch in one transaction; ``before_commit`` is called once its writes are sent, just before the
        commit (the group committer hands the next batch on to another writer there)."""
        ...

    def due_pending(self, now: int, limit: int = 8000) -> list[int]: ...

    def lookup_accounts(self, ids: Sequence[int]) -> list[Account]: ...

    def lookup_transfers(self, ids: Sequence[int]) -> list[Transfer]: ...

    def pending_state(self, transfer_id: int) -> PendingState | None: ...

    def failed_result(self, transfer_id: int) -> str | None: ...

    def account_transfers(self, f: AccountFilter) -> list[Transfer]: ...

    def account_balances(self, f: AccountFilter) -> list[AccountBalance]: ...

    def verify(self) -> VerifyReport: ...

    def close(self) -> None: ...


class LedgerService:
    def __init__(self, store: LedgerStore, clock: Clock, *, group_commit_writers: int = 0) -> None:
        self.store = store
        self.clock = clock
        self._committer: GroupCommitter[Transfer, CreateTransferResult] | None = None
        if group_commit_writers > 0:
            self._committer = GroupCommitter(self._apply_batch, writers=group_commit_writers)

    def close(self) -> None:
        if self._committer is not None:
            self._committer.close()
        self.store.close()

    # -- writes ---------------------------------------------------------------------------------------------

    def create_accounts(self, accounts: Sequence[Account]) -> list[CreateAccountResult]:
        return self.store.create_accounts([accounts], self.clock.now_ns())[0]

    def create_transfers(self, transfers: Sequence[Transfer]) -> list[CreateTransferResult]:
        """Apply ``transfers`` (linked chains all-or-none) and return one result per transfer.

        With group commit on, this call shares a database transaction with concurrent callers.
        """
        if not transfers:
            return []
        if self._committer is not None:
            return self._committer.submit(transfers)
        return self._apply_batch([transfers])[0]

    def create_transfer_batches(self, segments: Sequence[Sequence[Transfer]]) -> list[list[CreateTransferResult]]:
        """Apply several callers' segments in one transaction (what the group committer does)."""
        return self._apply_batch(segments)

    def _apply_batch(
        self, segments: Sequence[Sequence[Transfer]], handoff: Callable[[], None] | None = None
    ) -> list[list[CreateTransferResult]]:
        return self.store.create_transfers(segments, self.clock.now_ns(), before_commit=handoff).results

    def expire_pending(self, limit: int = 8000) -> int:
        """One sweeper pass: expire pending transfers whose timeout has passed. Returns how many expired.

        Safe to run from several processes at once: a hold is released only by the transaction that moves it out
        of the pending state, under the lock of its accounts.
        """
        now = self.clock.now_ns()
        due = self.store.due_pending(now, limit)
        if not due:
            return 0
        return len(self.store.create_transfers([], now, due).expired)

    def close_account(
        self, account_id: int, *, closing_transfer_id: int, control_account_id: int, code: int, ledger: int
    ) -> CreateTransferResult:
        """Close an account with a pending closing transfer: reversible by voiding it (``reopen_account``).

        The closing transfer moves nothing (amount 0); it only sets the account's CLOSED flag, so the account
        refuses new transfers while the history stays intact. Money left in the account must be moved out first.
        """
        closing = Transfer(
            id=closing_transfer_id,
            debit_account_id=account_id,
            credit_account_id=control_account_id,
            amount=0,
            ledger=ledger,
            code=code,
            flags=TransferFlags.PENDING | TransferFlags.CLOSING_DEBIT,
        )
        return self.create_transfers([closing])[0]

    def reopen_account(self, closing_transfer_id: int, *, void_transfer_id: int) -> CreateTransferResult:
        void = Transfer(
            id=void_transfer_id,
            debit_account_id=0,
            credit_account_id=0,
            amount=0,
            ledger=0,
            code=0,
            flags=TransferFlags.VOID_PENDING_TRANSFER,
            pending_id=closing_transfer_id,
        )
        return self.create_transfers([void])[0]

    # -- reads ----------------------------------------------------------------------------------------------

    def lookup_accounts(self, ids: Sequence[int]) -> list[Account]:
        return self.store.lookup_accounts(ids)

    def lookup_transfers(self, ids: Sequence[int]) -> list[Transfer]:
        return self.store.lookup_transfers(ids)

    def pending_state(self, transfer_id: int) -> PendingState | None:
        return self.store.pending_state(transfer_id)

    def failed_result(self, transfer_id: int) -> str | None:
        """The result code an id first failed with (for ids the ledger answers ``id_already_failed``)."""
        return self.store.failed_result(transfer_id)

    def account_transfers(self, f: AccountFilter) -> list[Transfer]:
        return self.store.account_transfers(f)

    def account_balances(self, f: AccountFilter) -> list[AccountBalance]:
        return self.store.account_balances(f)

    def balance_at(self, account_id: int, timestamp: int) -> AccountBalance | None:
        """The account's counters as they were at ``timestamp`` (needs the HISTORY flag); None before any."""
        accounts = self.store.lookup_accounts([account_id])
        if not accounts or not accounts[0].flags & AccountFlags.HISTORY:
            raise ValueError("balance history needs an account with the history flag")
        rows = self.store.account_balances(AccountFilter(account_id, timestamp_max=timestamp, limit=1, reversed=True))
        return rows[0] if rows else None

    def verify(self) -> VerifyReport:
        return self.store.verify()
