"""The transfers part's ports: what a transfer reads before it is made, where transfer records are kept, and what a
caller does with a transfer's outcome."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from pocketbank.domain.accounts import DepositAccount
from pocketbank.domain.customers import AccountClass
from pocketbank.domain.payees import Payee
from pocketbank.domain.transfers import StatusChange, TransferRecord, TransferStatus
from pocketbank.services.auth_ports import ChallengeRecord
from pocketbank.services.ports import Reply, Tx


@dataclass(frozen=True, slots=True)
class Standing:
    """What the limits depend on besides the payment: the customer's account class, and when the device making the
    request became trusted (ns; a device that is not the customer's own, or not trusted, counts as brand new)."""

    account_class: AccountClass
    device_trusted_at: int


@dataclass(frozen=True, slots=True)
class FactsQuery:
    """What to read for one transfer (or quote). Ids left None are not looked up."""

    customer_id: int  # whose money moves
    from_account: int
    to_account: int | None = None  # read when no payee is named
    payee_id: int | None = None  # the customer's payee, and the account it names
    transfer_id: int | None = None  # an earlier attempt with the same key
    challenge_id: int | None = None  # the step-up challenge the request answers
    device_id: int | None = None  # the customer's device making the request (None: the counter)


@dataclass(frozen=True, slots=True)
class TransferFacts:
    """What a transfer reads before it is made, as of one moment. Nothing here is locked or trusted as final: the
    ledger checks balances and limits as it posts, the record's insert and the proof's spend are compare-and-sets,
    so a fact that changes in between is caught where it matters."""

    earlier: TransferRecord | None
    payee: Payee | None  # the customer's own payee, removed or not (someone else's is never read)
    accounts: Mapping[int, DepositAccount]  # those found, of the source and the destination (the payee's account)
    challenge: ChallengeRecord | None  # whoever's it is: the step-up check decides
    standing: Standing | None  # None: there is no such customer


class TransferFactsReader(Protocol):
    def read(self, query: FactsQuery) -> TransferFacts:
        """Everything ``query`` names, read together (on PostgreSQL in one statement: this runs on every
        transfer, and each statement costs a round trip and its share of both sides' CPU)."""
        ...


class TransferRecordStore(Protocol):
    def insert(self, tx: Tx, t: TransferRecord) -> bool: ...

    def insert_many(self, tx: Tx, records: Sequence[TransferRecord]) -> None:
        """``insert`` each (one already there is left as it is)."""
        ...

    def get(self, transfer_id: int) -> TransferRecord | None: ...

    def set_status(
        self,
        tx: Tx,
        transfer_id: int,
        status: TransferStatus,
        expected: TransferStatus,
        reason: str = "",
        *,
        at: int,
    ) -> bool:
        """Move from ``expected`` to ``status``, remembering ``at`` (ns); False if something moved it first."""
        ...

    def set_status_many(self, tx: Tx, changes: Sequence[StatusChange], *, at: int) -> set[int]:
        """``set_status`` for each change; the ids of the records that moved."""
        ...

    def due(self, now: int, limit: int = 500) -> list[TransferRecord]: ...

    def stalled(self, before: int, limit: int = 100) -> list[TransferRecord]:
        """Records still ``processing`` that were created at or before ``before`` (ns), and records ``reversing``
        since then; oldest first."""
        ...

    def get_many(self, ids: list[int]) -> dict[int, TransferRecord]: ...


# What a caller stores with a transfer's outcome, in the unit of work that writes it: its answer to the request,
# made from the record as it now stands (see ``TransferEffects.submit``).
Respond = Callable[[TransferRecord], Reply]
