"""Deposit accounts and the bank's own accounts, as they sit on the ledger.

A customer's deposit account *is* a ledger account: its public id ``acct_…`` encodes the ledger account's 128-bit
id, its currency is the ledger (asset) it lives on, and its balance is the ledger's ``credits_posted -
debits_posted``. A deposit is money the bank owes the customer, so the ledger account carries
``DEBITS_MUST_NOT_EXCEED_CREDITS``: no transfer can overdraw it, whatever races in front of it. It also keeps
``HISTORY``, so a statement can show the balance after every entry.

The bank's side of every movement lands on internal accounts with fixed, derived ids (``bank_account_id``):
settlement (where deposits come from), fee income (spread over a few sub-accounts so that concurrent batches do
not all queue on one row), and the two sides of the *limit ledger*.

**Limits as ledger accounts.** A daily, monthly or yearly limit is an account on a separate ledger
(``LIMIT_LEDGER``) funded with the limit amount and flagged ``DEBITS_MUST_NOT_EXCEED_CREDITS``. Every transfer
debits the limit accounts that apply to it in the same linked chain as the payment. If one of them would go
below zero the whole chain fails inside the ledger's write transaction, so two concurrent transfers can never
both pass a limit that only one of them fits (the TOCTOU class of bug, checked atomically with the posting).

Each currency has its own limit ledger (``limit_ledger``: 9,000,000 + the ISO numeric code, so CNY's is
``LIMIT_LEDGER``) and its own allowance accounts (``limit_account_id``): a USD limit counts cents, a CNY limit fen,
and the ledger refuses any transfer between accounts of two ledgers, so the two can never be summed together.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from pocketbank.domain.ledger import AccountFlags

# Ledger numbers are asset ledgers (ISO 4217 numeric for currencies); limits live on a ledger of their own.
LIMIT_LEDGER_BASE = 9_000_000
LIMIT_LEDGER = LIMIT_LEDGER_BASE + 156  # CNY's limit ledger: limit units are CNY minor units
FEE_SUBACCOUNTS = 4
LIMIT_USAGE_SUBACCOUNTS = 32  # per limit ledger: see limit_usage_account_id

CUSTOMER_ACCOUNT_FLAGS = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags.HISTORY


class AccountCode(IntEnum):
    """The ledger ``code`` of an account: what kind of account it is (a chart of accounts)."""

    CUSTOMER_DEPOSIT = 1
    BANK_SETTLEMENT = 10
    FEE_INCOME = 20
    CLOSING_CONTROL = 30
    LIMIT_ALLOWANCE = 90
    LIMIT_SOURCE = 91
    LIMIT_USAGE = 92


class TransferCode(IntEnum):
    """The ledger ``code`` of a transfer: its business type (shown as the entry's type in a statement)."""

    DEPOSIT = 1
    INTRA_BANK = 2
    FEE = 3
    LIMIT_FUNDING = 4
    LIMIT_USAGE = 5
    REVERSAL = 6
    FEE_REVERSAL = 7
    ACCOUNT_CLOSING = 8
    INTERBANK = 9
    REMITTANCE = 10


class AccountStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class DepositAccount:
    id: int  # = the ledger account id
    customer_id: int
    currency: str
    ledger: int
    status: AccountStatus
    opened_at: int
    closed_at: int | None = None
    is_default: bool = False


def derive_id(*parts: object) -> int:
    """A 128-bit id derived from its parts: the same parts always give the same id (for idempotent retries)."""
    digest = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=16).digest()
    value = int.from_bytes(digest, "big")
    # 0 and 2**128-1 are reserved by the ledger; a derived id never lands on them in practice, but never is better.
    return value if 0 < value < 2**128 - 1 else 1


def bank_account_id(ledger: int, code: AccountCode, sub: int = 0) -> int:
    """The fixed id of one of the bank's internal accounts on a ledger."""
    return (1 << 120) | (ledger << 32) | (int(code) << 8) | sub


_BANK_CODES = frozenset(int(c) for c in AccountCode if c is not AccountCode.CUSTOMER_DEPOSIT)
_BETWEEN_TOP_AND_LEDGER = ((1 << 64) - 1) << 56  # bits 56-119: always zero in a bank id (a ledger is < 2**24)


def is_bank_account_id(account_id: int) -> bool:
    """Whether ``account_id`` is laid out as ``bank_account_id`` makes them.

    A customer's account id is derived or random, so its top byte alone (0x01 in a bank id) matches one id in 256:
    the test must also see the 64 zero bits between that byte and the ledger, and a bank account code. A customer
    id passes it with odds of about 2**-72, no likelier than two random ids colliding.
    """
    return (
        account_id >> 120 == 1 and not account_id & _BETWEEN_TOP_AND_LEDGER and (account_id >> 8) & 0xFF in _BANK_CODES
    )


def fee_account_id(ledger: int, transfer_id: int) -> int:
    """Fee income is spread over sub-accounts by transfer id, so concurrent fees do not contend on one row."""
    return bank_account_id(ledger, AccountCode.FEE_INCOME, transfer_id % FEE_SUBACCOUNTS)


def limit_usage_account_id(limit_ledger: int, transfer_id: int) -> int:
    """The bank account a transfer's limit legs credit: one of the limit ledger's usage sub-accounts, by transfer id.

    Every transfer in the bank credits limit usage (what it debits is the customer's own allowance), so with a single
    usage account every ledger batch would lock the same row, and concurrent batches (other workers, other servers)
    would wait for each other's commits. Spread over sub-accounts, two batches meet on one only by chance. The
    account's balance means nothing on its own; only the sum over the ledger does. Sub-account 0 has the id the
    single account had, so an existing bank carries on, and a transfer keeps the legs it was recorded with (a retry
    or a scheduled post resubmits them as they are). The limit source stays one account: it only funds an allowance
    when a period starts, in a batch of its own, and a funding's id names it (re-funding an existing allowance must
    find the same transfer).
    """
    return bank_account_id(limit_ledger, AccountCode.LIMIT_USAGE, transfer_id % LIMIT_USAGE_SUBACCOUNTS)


def limit_ledger(asset_ledger: int) -> int:
    """The limit ledger of the currency on ledger `asset_ledger` (its ISO 4217 numeric code); CNY's is LIMIT_LEDGER."""
    if not 0 < asset_ledger < 1000:
        raise ValueError(f"limit ledgers exist for ISO currencies (ledger 1-999), not ledger {asset_ledger}")
    return LIMIT_LEDGER_BASE + asset_ledger


def closing_transfer_id(account_id: int, n: int) -> int:
    """The ledger id of the ``n``-th closing transfer of a deposit account. A closing undone (voided, because money
    arrived as the account closed) keeps its id, so the next close takes the next one. The first keeps the id it
    had before closes could be undone."""
    return derive_id(account_id, "closing") if n == 0 else derive_id(account_id, "closing", n)


def limit_account_id(customer_id: int, scope: str, period_key: str, currency: str = "CNY") -> int:
    """A customer's allowance for one limit scope, calendar bucket and currency."""
    if currency == "CNY":
        # The original derivation, from before limits had currencies: existing CNY allowances keep their ids.
        return derive_id("limit", customer_id, scope, period_key)
    return derive_id("limit", currency, customer_id, scope, period_key)
