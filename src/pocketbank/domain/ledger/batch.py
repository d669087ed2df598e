"""A batch of transfers as the store and the state machine hand it to each other.

The store reads a *snapshot* inside the write transaction, after locking the accounts the batch names
(``required_ids`` says which): the accounts, the existing transfers and pending states with the batch's ids, and
the ids that failed before. The machine decides every event against that snapshot alone, and returns an *outcome*:
everything the store must write, all of it in the same transaction or none of it. Nothing else passes between them,
which is what lets one machine decide identically on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pocketbank.domain.ledger.model import AccountBalance, AccountState, PendingState, Transfer, TransferFlags
from pocketbank.domain.ledger.results import CreateTransferResult

_RESOLVING = TransferFlags.RESOLVING  # read once per event: a module constant, not an enum attribute look-up


@dataclass(slots=True)
class LedgerSnapshot:
    """What a batch may read: loaded by the store, inside the write transaction, after locking the accounts."""

    accounts: dict[int, AccountState]  # the batch changes these in place
    transfers: dict[int, Transfer]  # existing transfers with the batch's ids, and the pending ones referred to
    pending: dict[int, PendingState]  # state of every pending transfer in ``transfers``
    failed: dict[int, str] = field(default_factory=dict)  # ids among the batch's that failed before


@dataclass(slots=True)
class TransferBatchOutcome:
    """What the store must write: all of it in the same transaction, or none of it."""

    results: list[list[CreateTransferResult]]
    transfers: list[Transfer]
    accounts: list[AccountState]  # final state of every account whose counters or flags changed
    pending_created: dict[int, PendingState]
    pending_changed: dict[int, PendingState]
    failed: list[tuple[int, str]]
    history: list[AccountBalance]
    expired: list[int]
    next_timestamp: int


def required_ids(segments: Sequence[Sequence[Transfer]]) -> tuple[set[int], set[int], set[int]]:
    """The transfer ids, pending ids and account ids a batch refers to, so the store can load its snapshot."""
    ids: set[int] = set()
    pending_ids: set[int] = set()
    accounts: set[int] = set()
    for segment in segments:
        for t in segment:
            ids.add(t.id)
            if t.flags & _RESOLVING:
                pending_ids.add(t.pending_id)
            accounts.add(t.debit_account_id)
            accounts.add(t.credit_account_id)
    return ids, pending_ids, accounts
