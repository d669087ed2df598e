"""Conversions between ledger records and database rows (ids as 16-byte big-endian, so byte order = numeric).

User data that is zero (most of it) is written as an empty byte string rather than 16 or 8 zero bytes: an account row
is then about a quarter smaller, so a batch's counter updates dirty fewer pages and its commit writes less. Both
read back as 0 (``int.from_bytes(b"")``), so rows written with zero bytes before read the same; nothing looks rows
up by user data, so no query depends on one spelling.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pocketbank.domain.ledger import U128_MAX, Account, AccountBalance, AccountState, Transfer

ACCOUNT_COLUMNS = (
    "id, ledger, code, flags, user_data_128, user_data_64, user_data_32, "
    "debits_pending, debits_posted, credits_pending, credits_posted, timestamp"
)
TRANSFER_COLUMNS = (
    "id, debit_account_id, credit_account_id, amount, pending_id, ledger, code, flags, timeout, "
    "user_data_128, user_data_64, user_data_32, timestamp"
)
# What a batch needs of an account (decoding the other columns would be wasted work on the hot path).
ACCOUNT_STATE_COLUMNS = "id, ledger, flags, debits_pending, debits_posted, credits_pending, credits_posted"
HISTORY_COLUMNS = "account_id, timestamp, transfer_id, debits_pending, debits_posted, credits_pending, credits_posted"

_from_bytes = int.from_bytes


def id_bytes(value: int) -> bytes:
    return value.to_bytes(16, "big")


def valid_id(value: int) -> bool:
    """Ids a row can have; anything else is refused by validation and never reaches SQL."""
    return 0 < value < U128_MAX


def sorted_valid_ids(ids: Iterable[int]) -> list[int]:
    """The ``ids`` a row can have, ascending. Those it cannot (0, negative, ``U128_MAX`` and above) sort to the ends,
    so they are trimmed there instead of tested one by one: a batch asks this for a thousand ids or more."""
    ordered = sorted(ids)
    lo, hi = 0, len(ordered)
    while lo < hi and ordered[lo] <= 0:
        lo += 1
    while hi > lo and ordered[hi - 1] >= U128_MAX:
        hi -= 1
    return ordered if hi - lo == len(ordered) else ordered[lo:hi]


def user_data_bytes(value: int, width: int) -> bytes:
    """``value`` as ``width`` big-endian bytes, or no bytes at all for 0 (see the module docstring)."""
    return value.to_bytes(width, "big") if value else b""


def account_row(a: Account) -> tuple[Any, ...]:
    return (
        a.id.to_bytes(16, "big"), a.ledger, a.code, a.flags, user_data_bytes(a.user_data_128, 16),
        user_data_bytes(a.user_data_64, 8), a.user_data_32, a.debits_pending, a.debits_posted,
        a.credits_pending, a.credits_posted, a.timestamp,
    )  # fmt: skip


def account_from_row(r: Sequence[Any]) -> Account:
    return Account(
        _from_bytes(r[0], "big"), r[1], r[2], r[3], _from_bytes(r[4], "big"), _from_bytes(r[5], "big"), r[6],
        r[7], r[8], r[9], r[10], r[11],
    )  # fmt: skip


def account_state_from_row(r: Sequence[Any]) -> AccountState:
    return AccountState(_from_bytes(r[0], "big"), r[1], r[2], r[3], r[4], r[5], r[6])


def transfer_row(t: Transfer) -> tuple[Any, ...]:
    return (
        t.id.to_bytes(16, "big"), t.debit_account_id.to_bytes(16, "big"), t.credit_account_id.to_bytes(16, "big"),
        t.amount, t.pending_id.to_bytes(16, "big") if t.pending_id else None, t.ledger, t.code, t.flags, t.timeout,
        user_data_bytes(t.user_data_128, 16), user_data_bytes(t.user_data_64, 8), t.user_data_32, t.timestamp,
    )  # fmt: skip


def transfer_rows(transfers: Sequence[Transfer]) -> list[tuple[Any, ...]]:
    """``transfer_row`` for a whole batch, in one comprehension: no call per row (so ``user_data_bytes`` is
    spelled out inline)."""
    return [
        (
            t.id.to_bytes(16, "big"),
            t.debit_account_id.to_bytes(16, "big"),
            t.credit_account_id.to_bytes(16, "big"),
            t.amount,
            t.pending_id.to_bytes(16, "big") if t.pending_id else None,
            t.ledger,
            t.code,
            t.flags,
            t.timeout,
            t.user_data_128.to_bytes(16, "big") if t.user_data_128 else b"",
            t.user_data_64.to_bytes(8, "big") if t.user_data_64 else b"",
            t.user_data_32,
            t.timestamp,
        )
        for t in transfers
    ]


def plain_transfer_rows(transfers: Sequence[Transfer]) -> tuple[list[tuple[Any, ...]], list[Transfer]]:
    """Rows for the transfers with no pending id, timeout or user data (most of them), binding only the eight
    columns that vary; the others are literals in the statement. And the transfers that are not plain."""
    plain: list[tuple[Any, ...]] = []
    other: list[Transfer] = []
    for t in transfers:
        if t.pending_id or t.timeout or t.user_data_128 or t.user_data_64 or t.user_data_32:
            other.append(t)
        else:
            plain.append(
                (
                    t.id.to_bytes(16, "big"),
                    t.debit_account_id.to_bytes(16, "big"),
                    t.credit_account_id.to_bytes(16, "big"),
                    t.amount,
                    t.ledger,
                    t.code,
                    t.flags,
                    t.timestamp,
                )
            )
    return plain, other


def transfer_from_row(r: Sequence[Any]) -> Transfer:
    return Transfer(
        _from_bytes(r[0], "big"), _from_bytes(r[1], "big"), _from_bytes(r[2], "big"), r[3], r[5], r[6], r[7],
        _from_bytes(r[4], "big") if r[4] is not None else 0, r[8], _from_bytes(r[9], "big"),
        _from_bytes(r[10], "big"), r[11], r[12],
    )  # fmt: skip


# The columns a failed id fills in a look-up that returns transfers and failed ids together: its id, NULL for the
# other transfer columns, and its result code in one more column, which is NULL on a transfer's row.
FAILED_AS_TRANSFER_COLUMNS = "id, " + "NULL, " * TRANSFER_COLUMNS.count(",") + "result"
_RESULT_AT = TRANSFER_COLUMNS.count(",") + 1  # that last column's index


def split_lookup_rows(rows: Sequence[Sequence[Any]]) -> tuple[list[Transfer], dict[int, str]]:
    """The transfers and the failed ids (with their result codes) of such a look-up."""
    transfers: list[Transfer] = []
    failed: dict[int, str] = {}
    for r in rows:
        result = r[_RESULT_AT]
        if result is None:
            transfers.append(transfer_from_row(r))
        else:
            failed[_from_bytes(r[0], "big")] = result
    return transfers, failed


def history_row(h: AccountBalance) -> tuple[Any, ...]:
    return (
        h.account_id.to_bytes(16, "big"), h.timestamp, h.transfer_id.to_bytes(16, "big"), h.debits_pending,
        h.debits_posted, h.credits_pending, h.credits_posted,
    )  # fmt: skip


def history_from_row(r: Sequence[Any]) -> AccountBalance:
    return AccountBalance(_from_bytes(r[0], "big"), r[1], _from_bytes(r[2], "big"), r[3], r[4], r[5], r[6])
