"""Accounts and transfers: the two record types of the double-entry ledger.

PocketBank's ledger copies TigerBeetle's model (``docs/reference/account.md`` and ``transfer.md``).

An **account** is a bucket of one asset (its ``ledger``) with four counters: ``debits_pending``,
``debits_posted``, ``credits_pending`` and ``credits_posted``. The counters only ever change by transfers, so an
account's balance is always the sum of its transfers. ``flags`` put a limit on the account that the ledger enforces
inside the write transaction:

- ``DEBITS_MUST_NOT_EXCEED_CREDITS``: ``debits_pending + debits_posted <= credits_posted`` (a customer deposit; the
  bank owes the customer, so the customer can never owe the bank through this account);
- ``CREDITS_MUST_NOT_EXCEED_DEBITS``: the mirror image, for accounts that represent what others owe the bank;
- ``HISTORY``: keep a balance snapshot after every transfer, so the balance at a past time can be answered;
- ``CLOSED``: set and cleared only by a pending *closing* transfer, never by hand, so closing is reversible.

A **transfer** moves ``amount`` (> 0, integer minor units of the ledger's asset) from one debit account to one
credit account of the same ledger. Records are immutable; a correction is a new transfer. Multi-leg operations (a
payment and its fee, the two legs of an FX conversion) are chains of ``LINKED`` transfers that apply all or none.

Ids are unsigned 128-bit integers chosen by the client, which is what makes retries safe: the id is the
idempotency key. ``0`` and ``2**128 - 1`` are reserved. Amounts and counters are stored as 64-bit signed integers,
so no counter may pass ``AMOUNT_MAX``; the ledger refuses an overflow rather than wrapping.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import cast

U128_MAX = 2**128 - 1
U64_MAX = 2**64 - 1
U32_MAX = 2**32 - 1
U16_MAX = 2**16 - 1
# Counters are BIGINT in both databases; Python ints never overflow, the columns do.
AMOUNT_MAX = 2**63 - 1
NS_PER_SECOND = 1_000_000_000


class AccountFlags:
    """Account flag bits, numbered as TigerBeetle numbers them (bit 4, ``imported``, is reserved)."""

    NONE = 0
    LINKED = 1 << 0
    DEBITS_MUST_NOT_EXCEED_CREDITS = 1 << 1
    CREDITS_MUST_NOT_EXCEED_DEBITS = 1 << 2
    HISTORY = 1 << 3
    CLOSED = 1 << 5
    # A client may not set CLOSED when creating an account: only a closing transfer closes one.
    SETTABLE = LINKED | DEBITS_MUST_NOT_EXCEED_CREDITS | CREDITS_MUST_NOT_EXCEED_DEBITS | HISTORY


class TransferFlags:
    """Transfer flag bits, numbered as TigerBeetle numbers them (bit 8, ``imported``, is reserved)."""

    NONE = 0
    LINKED = 1 << 0
    PENDING = 1 << 1
    POST_PENDING_TRANSFER = 1 << 2
    VOID_PENDING_TRANSFER = 1 << 3
    BALANCING_DEBIT = 1 << 4
    BALANCING_CREDIT = 1 << 5
    CLOSING_DEBIT = 1 << 6
    CLOSING_CREDIT = 1 << 7
    KNOWN = (
        LINKED
        | PENDING
        | POST_PENDING_TRANSFER
        | VOID_PENDING_TRANSFER
        | BALANCING_DEBIT
        | BALANCING_CREDIT
        | CLOSING_DEBIT
        | CLOSING_CREDIT
    )
    RESOLVING = POST_PENDING_TRANSFER | VOID_PENDING_TRANSFER
    BALANCING = BALANCING_DEBIT | BALANCING_CREDIT
    CLOSING = CLOSING_DEBIT | CLOSING_CREDIT


FLAG_NAMES_ACCOUNT = {
    "linked": AccountFlags.LINKED,
    "debits_must_not_exceed_credits": AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS,
    "credits_must_not_exceed_debits": AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
    "history": AccountFlags.HISTORY,
    "closed": AccountFlags.CLOSED,
}
FLAG_NAMES_TRANSFER = {
    "linked": TransferFlags.LINKED,
    "pending": TransferFlags.PENDING,
    "post_pending_transfer": TransferFlags.POST_PENDING_TRANSFER,
    "void_pending_transfer": TransferFlags.VOID_PENDING_TRANSFER,
    "balancing_debit": TransferFlags.BALANCING_DEBIT,
    "balancing_credit": TransferFlags.BALANCING_CREDIT,
    "closing_debit": TransferFlags.CLOSING_DEBIT,
    "closing_credit": TransferFlags.CLOSING_CREDIT,
}


def flag_names(flags: int, names: dict[str, int]) -> list[str]:
    """The names of the bits set in ``flags``, for people and JSON."""
    return [name for name, bit in names.items() if flags & bit]


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    ledger: int
    code: int
    flags: int = AccountFlags.NONE
    user_data_128: int = 0
    user_data_64: int = 0
    user_data_32: int = 0
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0
    timestamp: int = 0

    @property
    def balance(self) -> int:
        """Posted credits minus posted debits: what the bank owes on a liability account."""
        return self.credits_posted - self.debits_posted

    @property
    def available(self) -> int:
        """What may still be debited: posted balance less the holds (pending debits)."""
        return self.credits_posted - self.debits_posted - self.debits_pending


class AccountState:
    """An account's limits and counters as a batch sees and changes them; all the state machine needs.

    Mutable on purpose: one batch applies thousands of events, and building a new frozen Account per event
    would be most of its cost. It lives only for the batch; the store writes the final values back.
    """

    __slots__ = ("cp", "cpo", "dp", "dpo", "flags", "id", "ledger")

    def __init__(self, id: int, ledger: int, flags: int, dp: int, dpo: int, cp: int, cpo: int) -> None:
        self.id = id
        self.ledger = ledger
        self.flags = flags
        self.dp = dp  # debits_pending
        self.dpo = dpo  # debits_posted
        self.cp = cp  # credits_pending
        self.cpo = cpo  # credits_posted

    @classmethod
    def of(cls, a: Account) -> AccountState:
        return cls(a.id, a.ledger, a.flags, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)

    def __repr__(self) -> str:
        counters = f"dp={self.dp}, dpo={self.dpo}, cp={self.cp}, cpo={self.cpo}"
        return f"AccountState(id={self.id}, ledger={self.ledger}, flags={self.flags}, {counters})"


@dataclass(frozen=True, slots=True)
class Transfer:
    id: int
    debit_account_id: int
    credit_account_id: int
    amount: int
    ledger: int
    code: int
    flags: int = TransferFlags.NONE
    pending_id: int = 0
    timeout: int = 0  # seconds; only for pending transfers
    user_data_128: int = 0
    user_data_64: int = 0
    user_data_32: int = 0
    timestamp: int = 0  # set by the ledger; a client leaves it 0


# A frozen dataclass's __init__ sets each field through object.__setattr__, by name: for Transfer's 13 fields that
# was a third of the machine's time per transfer. ``new_transfer`` fills a draft instead: a plain class with exactly
# Transfer's slots, whose __init__ stores each field with an ordinary attribute store, and then gives it Transfer's
# class (Python allows that between classes whose instances have the same layout). The result is the object the
# frozen constructor builds (Transfer has no __post_init__ and no defaults to compute), in half the time of setting
# each slot through its descriptor, which is what this did before.
_TRANSFER_FIELDS = [f.name for f in fields(Transfer)]
assert _TRANSFER_FIELDS == [
    "id", "debit_account_id", "credit_account_id", "amount", "ledger", "code", "flags", "pending_id", "timeout",
    "user_data_128", "user_data_64", "user_data_32", "timestamp",
] and not hasattr(Transfer, "__post_init__")  # fmt: skip


class _TransferDraft:
    __slots__ = tuple(_TRANSFER_FIELDS)

    def __init__(
        self, id: int, dr: int, cr: int, amount: int, ledger: int, code: int, flags: int, pending_id: int,
        timeout: int, u128: int, u64: int, u32: int, timestamp: int,
    ) -> None:  # fmt: skip
        self.id = id
        self.debit_account_id = dr
        self.credit_account_id = cr
        self.amount = amount
        self.ledger = ledger
        self.code = code
        self.flags = flags
        self.pending_id = pending_id
        self.timeout = timeout
        self.user_data_128 = u128
        self.user_data_64 = u64
        self.user_data_32 = u32
        self.timestamp = timestamp


assert _TransferDraft.__slots__ == Transfer.__slots__


def new_transfer(
    id: int, dr: int, cr: int, amount: int, ledger: int, code: int, flags: int, pending_id: int, timeout: int,
    u128: int, u64: int, u32: int, timestamp: int,
) -> Transfer:  # fmt: skip
    """``Transfer(...)`` with every field given, in order: what the state machine calls once per transfer."""
    draft = _TransferDraft(id, dr, cr, amount, ledger, code, flags, pending_id, timeout, u128, u64, u32, timestamp)
    draft.__class__ = Transfer  # type: ignore[assignment]
    return cast(Transfer, draft)


class PendingStatus:
    """Where a pending transfer is in its life. It leaves PENDING exactly once."""

    PENDING = 1
    POSTED = 2
    VOIDED = 3
    EXPIRED = 4


PENDING_STATUS_NAMES = {
    PendingStatus.PENDING: "pending",
    PendingStatus.POSTED: "posted",
    PendingStatus.VOIDED: "voided",
    PendingStatus.EXPIRED: "expired",
}


@dataclass(frozen=True, slots=True)
class PendingState:
    """The mutable side of a pending transfer: its status and, if it has a timeout, when it expires."""

    status: int
    expires_at: int  # ns; 0 = never


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """An account's counters just after one transfer (kept for accounts with the HISTORY flag)."""

    account_id: int
    timestamp: int
    transfer_id: int
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int

    @property
    def balance(self) -> int:
        return self.credits_posted - self.debits_posted
