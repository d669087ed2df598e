"""An account's transaction history, newest first, with cursor pagination and filters.

Entries come from the ledger (the source of truth), enriched with the transfer records (fee, channel, memo,
counterparty) and with the balance after each entry from the account's history. A scheduled transfer's hold shows
as ``pending`` until it is posted (then the post shows as the movement) or voided (then it disappears: the money
never moved). Paging is by the ledger's timestamps, so pages never overlap or skip, whatever is added meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pocketbank.domain.accounts import TransferCode, is_bank_account_id
from pocketbank.domain.ledger import PendingStatus, Transfer, TransferFlags
from pocketbank.domain.ledger.queries import AccountFilter
from pocketbank.domain.principals import Principal
from pocketbank.domain.transfers import TransferRecord
from pocketbank.errors import InvalidId
from pocketbank.services.accounts import AccountService
from pocketbank.services.ledger import LedgerService
from pocketbank.services.transfer_ports import TransferRecordStore

MAX_PAGES = 20  # a filtered page reads at most this many ledger pages before it answers with what it found
LEDGER_PAGE = 100  # ledger entries read at a time


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


@dataclass(frozen=True, slots=True)
class StatementEntry:
    id: int  # the ledger transfer id
    at: int
    direction: Direction
    type: str
    amount: int
    currency: str
    status: str  # posted | pending
    counterparty: int  # the other account (a bank account id for fees and deposits)
    counterparty_is_bank: bool
    balance_after: int | None
    transfer: TransferRecord | None  # the customer-level transfer this entry belongs to, if any


@dataclass(frozen=True, slots=True)
class StatementQuery:
    since: int = 0
    until: int = 0
    direction: Direction | None = None
    types: frozenset[str] = frozenset()
    amount_min: int | None = None
    amount_max: int | None = None
    limit: int = 20
    starting_after: int | None = None


class StatementService:
    def __init__(self, accounts: AccountService, ledger: LedgerService, records: TransferRecordStore) -> None:
        self.accounts, self.ledger, self.records = accounts, ledger, records

    def entries(self, principal: Principal, account_id: int, q: StatementQuery) -> tuple[list[StatementEntry], bool]:
        account = (
            self.accounts.owned(principal.id, account_id) if not principal.is_staff else self.accounts.find(account_id)
        )
        if account is None:
            raise InvalidId("no such account", param="account_id")
        until = q.until
        if q.starting_after is not None:
            found = self.ledger.lookup_transfers([q.starting_after])
            if not found or account.id not in (found[0].debit_account_id, found[0].credit_account_id):
                raise InvalidId("starting_after is not an entry of this account", param="starting_after")
            until = found[0].timestamp - 1
        out: list[StatementEntry] = []
        # Without type or amount filters nearly every ledger entry is shown, so the first read asks for one page
        # (and one more entry, to know whether there are more) rather than 100: five for the home page, not all.
        filtered = bool(q.types) or q.amount_min is not None or q.amount_max is not None
        size = LEDGER_PAGE if filtered else min(LEDGER_PAGE, q.limit + 1)
        for _ in range(MAX_PAGES):
            if q.since and until and until < q.since:
                return out, False
            batch = self.ledger.account_transfers(
                AccountFilter(
                    account.id,
                    timestamp_min=q.since,
                    timestamp_max=until,
                    limit=size,
                    reversed=True,
                    debits=q.direction is not Direction.IN,
                    credits=q.direction is not Direction.OUT,
                )
            )
            for entry in self._entries(account.id, account.currency, batch):
                if self._matches(entry, q):
                    out.append(entry)
                    if len(out) > q.limit:
                        return out[: q.limit], True
            if len(batch) < size:
                return out, False
            until = batch[-1].timestamp - 1
            size = LEDGER_PAGE
        return out, True

    @staticmethod
    def _matches(e: StatementEntry, q: StatementQuery) -> bool:
        if q.types and e.type not in q.types:
            return False
        if q.amount_min is not None and e.amount < q.amount_min:
            return False
        return not (q.amount_max is not None and e.amount > q.amount_max)

    def _entries(self, account_id: int, currency: str, batch: list[Transfer]) -> list[StatementEntry]:
        if not batch:
            return []
        balances = {
            b.timestamp: b.balance
            for b in self.ledger.account_balances(
                AccountFilter(
                    account_id, timestamp_min=batch[-1].timestamp, timestamp_max=batch[0].timestamp, limit=8190
                )
            )
        }
        # Every leg of a customer transfer carries the transfer's id in user_data_128 (a post inherits it).
        records = self.records.get_many(sorted({t.user_data_128 or t.id for t in batch}))
        out = []
        for t in batch:
            if t.flags & TransferFlags.VOID_PENDING_TRANSFER:
                continue  # a void moves nothing
            status = "posted"
            if t.flags & TransferFlags.PENDING:
                state = self.ledger.pending_state(t.id)
                if state is None or state.status != PendingStatus.PENDING:
                    continue  # resolved: the post (if any) is the entry; a voided or expired hold moved nothing
                status = "pending"
            outgoing = t.debit_account_id == account_id
            other = t.credit_account_id if outgoing else t.debit_account_id
            record = records.get(t.user_data_128 or t.id)
            out.append(
                StatementEntry(
                    id=t.id,
                    at=t.timestamp,
                    direction=Direction.OUT if outgoing else Direction.IN,
                    type=_type_name(t.code),
                    amount=t.amount,
                    currency=currency,
                    status=status,
                    counterparty=other,
                    counterparty_is_bank=is_bank_account_id(other),
                    balance_after=balances.get(t.timestamp),
                    transfer=record,
                )
            )
        return out


def _type_name(code: int) -> str:
    try:
        return TransferCode(code).name.lower()
    except ValueError:
        return "other"


TYPE_NAMES = frozenset(c.name.lower() for c in TransferCode)
