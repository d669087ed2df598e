"""The ledger's state machine: applies a batch of events to a snapshot of the accounts they touch.

This is the one place where the rules of money movement live. Storage engines only load a snapshot (the accounts,
existing transfers, pending states and failed ids a batch refers to), run this machine over it in memory, and write
the outcome back in one database transaction. Because the machine is pure, the same code decides on SQLite and on
PostgreSQL, and the property tests can drive it without a database.

Invariants the machine keeps, event by event:

- every applied transfer changes exactly two accounts of the same ledger by the same amount, one on the debit side
  and one on the credit side, so per ledger the sum of debits equals the sum of credits;
- an account's limit flags hold after every event (a debit that would overdraw a customer fails here, inside the
  write transaction, not in an application pre-check that a concurrent request could race);
- a linked chain applies all or nothing: on the first refusal every change of the chain is undone;
- a pending transfer leaves the pending state exactly once: posted, voided or expired;
- an id is applied at most once: a retry of an applied id answers ``exists`` (or ``exists_with_different_*``),
  a retry of a failed id answers ``id_already_failed``.

A batch is a list of *segments*, one per caller: group commit puts several callers' events into one database
transaction, but a linked chain may not run across a caller's boundary.
"""

from __future__ import annotations

from collections.abc import Sequence

from pocketbank.domain.ledger.batch import LedgerSnapshot, TransferBatchOutcome
from pocketbank.domain.ledger.model import (
    AMOUNT_MAX,
    NS_PER_SECOND,
    AccountBalance,
    AccountFlags,
    AccountState,
    PendingState,
    PendingStatus,
    Transfer,
    TransferFlags,
    new_transfer,
)
from pocketbank.domain.ledger.results import (
    SUCCESS_TRANSFER_RESULTS,
    TRANSIENT_TRANSFER_RESULTS,
    CreateTransferResult,
)
from pocketbank.domain.ledger.validation import check_transfer_fields, exists_result

R = CreateTransferResult
F = TransferFlags
_DMNEC = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
_CMNED = AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
_HISTORY = AccountFlags.HISTORY
_CLOSED = AccountFlags.CLOSED
# The hot path runs once per event, thousands of times per batch: module constants are read faster than class
# attributes, and result codes are singletons, so ``is`` answers what ``in SUCCESS_TRANSFER_RESULTS`` would
# (without the Python-level ``Enum.__hash__``).
_LINKED = F.LINKED
_PENDING = F.PENDING
_RESOLVING = F.RESOLVING
_BALANCING = F.BALANCING
_BALANCING_DEBIT = F.BALANCING_DEBIT
_BALANCING_CREDIT = F.BALANCING_CREDIT
_CLOSING = F.CLOSING
_CLOSING_DEBIT = F.CLOSING_DEBIT
_CLOSING_CREDIT = F.CLOSING_CREDIT
_OK = R.OK
_EXISTS = R.EXISTS
assert {_OK, _EXISTS} == SUCCESS_TRANSFER_RESULTS


class TransferMachine:
    """Runs create_transfers over a snapshot. One instance per batch."""

    def __init__(self, snapshot: LedgerSnapshot, now: int, first_timestamp: int) -> None:
        self._snap = snapshot
        self._accounts = snapshot.accounts
        self._transfers = snapshot.transfers
        self._now = now
        self._ts = first_timestamp
        self._dirty: dict[int, AccountState] = {}
        self._new: list[Transfer] = []
        self._created: dict[int, PendingState] = {}
        self._changed: dict[int, PendingState] = {}
        self._failed: list[tuple[int, str]] = []
        self._history: list[AccountBalance] = []
        self._expired: list[int] = []
        # Undo logs for the chain being applied (only kept inside a chain).
        self._in_chain = False
        self._undo_accounts: list[tuple[AccountState, tuple[int, int, int, int, int]]] = []
        self._undo_transfers: list[int] = []
        self._undo_pending: list[tuple[int, PendingState | None, PendingState | None, PendingState | None]] = []

    # -- public ---------------------------------------------------------------------------------------------

    def run(self, segments: Sequence[Sequence[Transfer]]) -> TransferBatchOutcome:
        self._expire_due()
        results = [self._run_segment(seg) for seg in segments]
        return TransferBatchOutcome(
            results=results,
            transfers=self._new,
            accounts=list(self._dirty.values()),
            pending_created=self._created,
            pending_changed=self._changed,
            failed=self._failed,
            history=self._history,
            expired=self._expired,
            next_timestamp=self._ts,
        )

    # -- chains ---------------------------------------------------------------------------------------------

    def _run_segment(self, events: Sequence[Transfer]) -> list[CreateTransferResult]:
        n = len(events)
        results: list[CreateTransferResult] = [_OK] * n
        apply = self._apply
        apply_plain = self._apply_plain
        i = 0
        while i < n:
            event = events[i]
            if not event.flags and apply_plain(event):
                i += 1  # results[i] is already OK
                continue
            if not event.flags & _LINKED:
                # A single event fails before it changes anything, so it needs no undo log.
                code = apply(event)
                results[i] = code
                if code is not _OK and code is not _EXISTS:
                    self._record_failure(event.id, code)
                i += 1
                continue
            end = i
            while end < n and events[end].flags & _LINKED:
                end += 1
            chain_open = end == n
            if chain_open:
                end = n - 1
            self._run_chain(events, i, end, chain_open, results)
            i = end + 1
        return results

    def _run_chain(
        self,
        events: Sequence[Transfer],
        start: int,
        end: int,
        chain_open: bool,
        results: list[CreateTransferResult],
    ) -> None:
        marks = (len(self._new), len(self._history))
        self._in_chain = True
        failed_at = -1
        code = R.OK
        for k in range(start, end + 1):
            if chain_open and k == end:
                failed_at, code = k, R.LINKED_EVENT_CHAIN_OPEN
                break
            code = self._apply(events[k])
            results[k] = code
            if code is not _OK and code is not _EXISTS:
                failed_at = k
                break
        self._in_chain = False
        if failed_at < 0:
            self._clear_undo()
            return
        self._rollback(marks)
        for k in range(start, end + 1):
            results[k] = R.LINKED_EVENT_FAILED
        results[failed_at] = code
        self._record_failure(events[failed_at].id, code)

    def _record_failure(self, transfer_id: int, code: CreateTransferResult) -> None:
        if code in TRANSIENT_TRANSFER_RESULTS and transfer_id not in self._snap.failed:
            self._snap.failed[transfer_id] = code.value
            self._failed.append((transfer_id, code.value))

    def _rollback(self, marks: tuple[int, int]) -> None:
        # Each kind of change is undone newest first, so the oldest saved value is the one that remains.
        for w, saved in reversed(self._undo_accounts):
            w.dp, w.dpo, w.cp, w.cpo, w.flags = saved
        for transfer_id in self._undo_transfers:
            del self._snap.transfers[transfer_id]
        for pending_id, prev_state, was_created, was_changed in reversed(self._undo_pending):
            _restore(self._snap.pending, pending_id, prev_state)
            _restore(self._created, pending_id, was_created)
            _restore(self._changed, pending_id, was_changed)
        self._clear_undo()
        del self._new[marks[0] :]
        del self._history[marks[1] :]

    def _clear_undo(self) -> None:
        self._undo_accounts.clear()
        self._undo_transfers.clear()
        self._undo_pending.clear()

    # -- state changes (each one logged for rollback) -------------------------------------------------------

    def _acct(self, account_id: int) -> AccountState:
        return self._snap.accounts[account_id]

    def _save(self, w: AccountState) -> None:
        self._dirty[w.id] = w
        if self._in_chain:
            self._undo_accounts.append((w, (w.dp, w.dpo, w.cp, w.cpo, w.flags)))

    def _set_pending(self, pending_id: int, state: PendingState, created: bool) -> None:
        if self._in_chain:
            self._undo_pending.append(
                (
                    pending_id,
                    self._snap.pending.get(pending_id),
                    self._created.get(pending_id),
                    self._changed.get(pending_id),
                )
            )
        self._snap.pending[pending_id] = state
        if created or pending_id in self._created:
            self._created[pending_id] = state
        else:
            self._changed[pending_id] = state

    def _snapshot_history(self, transfer_id: int, timestamp: int, *accounts: AccountState) -> None:
        for w in accounts:
            if w.flags & _HISTORY:
                self._history.append(AccountBalance(w.id, timestamp, transfer_id, w.dp, w.dpo, w.cp, w.cpo))

    def _next_timestamp(self) -> int:
        ts = self._ts
        self._ts = ts + 1
        return ts

    # -- expiry ---------------------------------------------------------------------------------------------

    def _expire_due(self) -> None:
        """Expire every loaded pending transfer whose timeout has passed, before any event reads it.

        Expiry is not part of any chain: time has passed whatever the events do, so it is never rolled back.
        """
        now = self._now
        due = [
            pid
            for pid, st in self._snap.pending.items()
            if st.status == PendingStatus.PENDING and 0 < st.expires_at <= now
        ]
        for pid in sorted(due):
            p = self._snap.transfers[pid]
            dr, cr = self._acct(p.debit_account_id), self._acct(p.credit_account_id)
            self._save(dr)
            self._save(cr)
            dr.dp -= p.amount
            cr.cp -= p.amount
            self._reopen_if_closing(p, dr, cr)
            self._set_pending(pid, PendingState(PendingStatus.EXPIRED, self._snap.pending[pid].expires_at), False)
            self._snapshot_history(pid, self._next_timestamp(), dr, cr)
            self._expired.append(pid)
        self._clear_undo()

    @staticmethod
    def _reopen_if_closing(p: Transfer, dr: AccountState, cr: AccountState) -> None:
        if p.flags & F.CLOSING_DEBIT:
            dr.flags &= ~_CLOSED
        if p.flags & F.CLOSING_CREDIT:
            cr.flags &= ~_CLOSED

    # -- one event ------------------------------------------------------------------------------------------

    def _apply_plain(self, t: Transfer) -> bool:
        """Apply a plain transfer (no flags) that passes every check, and say so; or change nothing and answer False,
        so that the general path (``_apply``) finds the first rule it breaks.

        Most transfers are plain and succeed. This runs ``check_transfer_fields``, the one place the field rules
        live, then ``_create``'s checks as they apply to a plain transfer, inlined, with ``_store``'s bookkeeping.
        """
        if check_transfer_fields(t) is not None:
            return False
        tid = t.id
        amount = t.amount
        ledger = t.ledger
        transfers = self._transfers
        if tid in transfers or tid in self._snap.failed:
            return False
        accounts = self._accounts
        dr = accounts.get(t.debit_account_id)
        cr = accounts.get(t.credit_account_id)
        if dr is None or cr is None or dr.ledger != ledger or cr.ledger != ledger:
            return False
        dr_flags = dr.flags
        cr_flags = cr.flags
        if (dr_flags | cr_flags) & (_CLOSED | _HISTORY):
            return False  # a closed account refuses; history needs snapshots: both take the general path
        dpo = dr.dpo + amount
        cpo = cr.cpo + amount
        if dpo > AMOUNT_MAX or cpo > AMOUNT_MAX or dr.dp + dpo > AMOUNT_MAX or cr.cp + cpo > AMOUNT_MAX:
            return False
        if (dr_flags & _DMNEC and dr.dp + dpo > dr.cpo) or (cr_flags & _CMNED and cr.cp + cpo > cr.dpo):
            return False
        dirty = self._dirty  # never inside a chain: a plain transfer is not linked
        dirty[dr.id] = dr
        dirty[cr.id] = cr
        dr.dpo = dpo
        cr.cpo = cpo
        timestamp = self._ts
        self._ts = timestamp + 1
        stored = new_transfer(
            tid, dr.id, cr.id, amount, ledger, t.code, 0, 0, 0, t.user_data_128, t.user_data_64, t.user_data_32,
            timestamp,
        )  # fmt: skip
        transfers[tid] = stored
        self._new.append(stored)
        return True

    def _apply(self, t: Transfer) -> CreateTransferResult:
        # Checks that depend only on the event come first: they are deterministic, so an event that was once
        # applied passes them again and reaches the idempotency check below.
        code = check_transfer_fields(t)
        if code is not None:
            return code
        transfers = self._transfers
        existing = transfers.get(t.id)
        if existing is not None:
            return exists_result(t, existing, transfers.get(existing.pending_id))
        if t.id in self._snap.failed:
            return R.ID_ALREADY_FAILED
        if t.flags & _RESOLVING:
            return self._resolve_pending(t)
        return self._create(t)

    def _create(self, t: Transfer) -> CreateTransferResult:
        # Every batch runs this once per transfer, so it reads each field once into a local; the checks and their
        # order are the rules' (TigerBeetle's), only the bookkeeping is inlined.
        accounts = self._accounts
        dr = accounts.get(t.debit_account_id)
        if dr is None:
            return R.DEBIT_ACCOUNT_NOT_FOUND
        cr = accounts.get(t.credit_account_id)
        if cr is None:
            return R.CREDIT_ACCOUNT_NOT_FOUND
        ledger = dr.ledger
        if ledger != cr.ledger:
            return R.ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER
        if t.ledger != ledger:
            return R.TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS
        dr_flags = dr.flags
        cr_flags = cr.flags
        if dr_flags & _CLOSED:
            return R.DEBIT_ACCOUNT_ALREADY_CLOSED
        if cr_flags & _CLOSED:
            return R.CREDIT_ACCOUNT_ALREADY_CLOSED

        amount = t.amount
        flags = t.flags
        dp, dpo, cp, cpo = dr.dp, dr.dpo, cr.cp, cr.cpo
        if flags & _BALANCING:
            if flags & _BALANCING_DEBIT:
                room = max(0, dr.cpo - dpo - dp)
                if room == 0 and not flags & _CLOSING:
                    return R.EXCEEDS_CREDITS  # nothing left to take from the debit side
                amount = min(amount, room)
            if flags & _BALANCING_CREDIT:
                room = max(0, cr.dpo - cpo - cp)
                if room == 0 and not flags & _CLOSING:
                    return R.EXCEEDS_DEBITS  # nothing left to give to the credit side
                amount = min(amount, room)
        pending = flags & _PENDING
        if pending:
            if dp + amount > AMOUNT_MAX:
                return R.OVERFLOWS_DEBITS_PENDING
            if cp + amount > AMOUNT_MAX:
                return R.OVERFLOWS_CREDITS_PENDING
        else:
            if dpo + amount > AMOUNT_MAX:
                return R.OVERFLOWS_DEBITS_POSTED
            if cpo + amount > AMOUNT_MAX:
                return R.OVERFLOWS_CREDITS_POSTED
        if dp + dpo + amount > AMOUNT_MAX:
            return R.OVERFLOWS_DEBITS
        if cp + cpo + amount > AMOUNT_MAX:
            return R.OVERFLOWS_CREDITS
        timestamp = self._ts
        if pending and t.timeout and timestamp + t.timeout * NS_PER_SECOND > AMOUNT_MAX:
            return R.OVERFLOWS_TIMEOUT
        if dr_flags & _DMNEC and dp + dpo + amount > dr.cpo:
            return R.EXCEEDS_CREDITS
        if cr_flags & _CMNED and cp + cpo + amount > cr.dpo:
            return R.EXCEEDS_DEBITS

        # Everything checked: apply.
        if self._in_chain:
            self._save(dr)
            self._save(cr)
        else:
            dirty = self._dirty
            dirty[dr.id] = dr
            dirty[cr.id] = cr
        if pending:
            dr.dp = dp + amount
            cr.cp = cp + amount
            if flags & _CLOSING_DEBIT:
                dr.flags |= _CLOSED
            if flags & _CLOSING_CREDIT:
                cr.flags |= _CLOSED
        else:
            dr.dpo = dpo + amount
            cr.cpo = cpo + amount
        self._ts = timestamp + 1
        stored = new_transfer(
            t.id, t.debit_account_id, t.credit_account_id, amount, ledger, t.code, flags, 0, t.timeout,
            t.user_data_128, t.user_data_64, t.user_data_32, timestamp,
        )  # fmt: skip
        self._store(stored)
        if pending:
            expires = timestamp + t.timeout * NS_PER_SECOND if t.timeout else 0
            self._set_pending(t.id, PendingState(PendingStatus.PENDING, expires), True)
        if (dr.flags | cr.flags) & _HISTORY:
            self._snapshot_history(t.id, timestamp, dr, cr)
        return _OK

    def _resolve_pending(self, t: Transfer) -> CreateTransferResult:
        p = self._snap.transfers.get(t.pending_id)
        if p is None:
            return R.PENDING_TRANSFER_NOT_FOUND
        if not p.flags & F.PENDING:
            return R.PENDING_TRANSFER_NOT_PENDING
        if t.debit_account_id and t.debit_account_id != p.debit_account_id:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID
        if t.credit_account_id and t.credit_account_id != p.credit_account_id:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID
        if t.ledger and t.ledger != p.ledger:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_LEDGER
        if t.code and t.code != p.code:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_CODE
        post = bool(t.flags & F.POST_PENDING_TRANSFER)
        # Posting 0 means "post the full amount" (TigerBeetle before 0.16); voiding releases the whole hold.
        amount = t.amount or p.amount
        if amount > p.amount:
            return R.EXCEEDS_PENDING_TRANSFER_AMOUNT
        if not post and amount != p.amount:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT
        state = self._snap.pending[p.id]
        if state.status == PendingStatus.POSTED:
            return R.PENDING_TRANSFER_ALREADY_POSTED
        if state.status == PendingStatus.VOIDED:
            return R.PENDING_TRANSFER_ALREADY_VOIDED
        if state.status == PendingStatus.EXPIRED:
            return R.PENDING_TRANSFER_EXPIRED
        dr, cr = self._acct(p.debit_account_id), self._acct(p.credit_account_id)
        if post:
            # A closed account takes no new postings; only the closing transfer itself may still be posted, and
            # any hold on it may still be voided (that is how closing is undone).
            if dr.flags & _CLOSED and not p.flags & F.CLOSING_DEBIT:
                return R.DEBIT_ACCOUNT_ALREADY_CLOSED
            if cr.flags & _CLOSED and not p.flags & F.CLOSING_CREDIT:
                return R.CREDIT_ACCOUNT_ALREADY_CLOSED
            if dr.dpo + amount > AMOUNT_MAX:
                return R.OVERFLOWS_DEBITS_POSTED
            if cr.cpo + amount > AMOUNT_MAX:
                return R.OVERFLOWS_CREDITS_POSTED
        self._save(dr)
        self._save(cr)
        dr.dp -= p.amount
        cr.cp -= p.amount
        if post:
            dr.dpo += amount
            cr.cpo += amount
        else:
            self._reopen_if_closing(p, dr, cr)
        timestamp = self._next_timestamp()
        stored = Transfer(
            t.id, p.debit_account_id, p.credit_account_id, amount, p.ledger, p.code, t.flags, t.pending_id, 0,
            t.user_data_128 or p.user_data_128, t.user_data_64 or p.user_data_64, t.user_data_32 or p.user_data_32,
            timestamp,
        )  # fmt: skip
        self._store(stored)
        status = PendingStatus.POSTED if post else PendingStatus.VOIDED
        self._set_pending(p.id, PendingState(status, state.expires_at), False)
        self._snapshot_history(t.id, timestamp, dr, cr)
        return R.OK

    def _store(self, stored: Transfer) -> None:
        self._transfers[stored.id] = stored
        self._new.append(stored)
        if self._in_chain:
            self._undo_transfers.append(stored.id)


def _restore(target: dict[int, PendingState], key: int, previous: PendingState | None) -> None:
    if previous is None:
        target.pop(key, None)
    else:
        target[key] = previous
