"""Checks that depend only on the event itself, and the idempotency comparison.

These run before the ledger looks at any state. They are deterministic: the same event always gets the same
answer, which is why a refusal here records nothing (see ``results.py``). The order of the checks is
TigerBeetle's, so that an event with several faults reports the same one on every engine.
"""

from __future__ import annotations

from typing import TypeVar

from pocketbank.domain.ledger.model import (
    AMOUNT_MAX,
    U16_MAX,
    U32_MAX,
    U64_MAX,
    U128_MAX,
    Account,
    AccountFlags,
    Transfer,
    TransferFlags,
)
from pocketbank.domain.ledger.results import CreateAccountResult, CreateTransferResult

R = CreateTransferResult
F = TransferFlags


def _id_result(value: int, zero: R, int_max: R, out_of_range: R) -> R | None:
    if value == 0:
        return zero
    if value == U128_MAX:
        return int_max
    if value < 0 or value > U128_MAX:
        return out_of_range
    return None


def _fields_in_range(t: Transfer) -> bool:
    return (
        0 <= t.ledger <= U32_MAX
        and 0 <= t.code <= U16_MAX
        and 0 <= t.timeout <= U32_MAX
        and 0 <= t.user_data_128 <= U128_MAX
        and 0 <= t.user_data_64 <= U64_MAX
        and 0 <= t.user_data_32 <= U32_MAX
    )


def check_transfer_fields(t: Transfer) -> CreateTransferResult | None:
    """The first structural fault of a transfer, or None when it is well formed."""
    flags = t.flags
    # Fast path for the common case, a plain single-phase transfer: one expression, no calls.
    if (
        (flags & ~F.LINKED) == 0
        and t.timestamp == 0
        and t.pending_id == 0
        and t.timeout == 0
        and 0 < t.id < U128_MAX
        and 0 < t.amount <= AMOUNT_MAX
        and 0 < t.debit_account_id < U128_MAX
        and 0 < t.credit_account_id < U128_MAX
        and t.debit_account_id != t.credit_account_id
        and 0 < t.ledger <= U32_MAX
        and 0 < t.code <= U16_MAX
        and 0 <= t.user_data_128 <= U128_MAX
        and 0 <= t.user_data_64 <= U64_MAX
        and 0 <= t.user_data_32 <= U32_MAX
    ):
        return None
    if t.timestamp != 0:
        return R.TIMESTAMP_MUST_BE_ZERO
    if flags < 0 or flags & ~F.KNOWN:
        return R.RESERVED_FLAG
    code = _id_result(t.id, R.ID_MUST_NOT_BE_ZERO, R.ID_MUST_NOT_BE_INT_MAX, R.ID_OUT_OF_RANGE)
    if code is not None:
        return code
    if not _fields_in_range(t):
        return R.FIELD_OUT_OF_RANGE
    resolving = flags & F.RESOLVING
    if (
        (flags & F.PENDING and resolving)
        or resolving == F.RESOLVING
        or (flags & F.BALANCING and resolving)
        or (flags & F.CLOSING and resolving)
    ):
        return R.FLAGS_ARE_MUTUALLY_EXCLUSIVE
    if t.amount < 0:
        return R.AMOUNT_MUST_NOT_BE_NEGATIVE
    if t.amount > AMOUNT_MAX:
        return R.AMOUNT_EXCEEDS_MAXIMUM
    if resolving:
        return _check_resolving(t)
    code = _id_result(
        t.debit_account_id,
        R.DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO,
        R.DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX,
        R.DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX,
    )
    if code is not None:
        return code
    code = _id_result(
        t.credit_account_id,
        R.CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO,
        R.CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX,
        R.CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX,
    )
    if code is not None:
        return code
    if t.debit_account_id == t.credit_account_id:
        return R.ACCOUNTS_MUST_BE_DIFFERENT
    if t.pending_id != 0:
        return R.PENDING_ID_MUST_BE_ZERO
    if t.timeout != 0 and not flags & F.PENDING:
        return R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER
    if flags & F.CLOSING and not flags & F.PENDING:
        return R.CLOSING_TRANSFER_MUST_BE_PENDING
    if t.amount == 0 and not flags & F.CLOSING:
        # A closing transfer only flips the account's CLOSED flag, so like TigerBeetle's it may move nothing.
        return R.AMOUNT_MUST_NOT_BE_ZERO
    if t.ledger == 0:
        return R.LEDGER_MUST_NOT_BE_ZERO
    if t.code == 0:
        return R.CODE_MUST_NOT_BE_ZERO
    return None


def _check_resolving(t: Transfer) -> CreateTransferResult | None:
    """A post or void names its pending transfer; accounts, ledger and code may be 0 (= inherited)."""
    for value, int_max in (
        (t.debit_account_id, R.DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX),
        (t.credit_account_id, R.CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX),
    ):
        if value < 0 or value >= U128_MAX:
            return int_max
    if t.debit_account_id and t.debit_account_id == t.credit_account_id:
        return R.ACCOUNTS_MUST_BE_DIFFERENT
    code = _id_result(
        t.pending_id,
        R.PENDING_ID_MUST_NOT_BE_ZERO,
        R.PENDING_ID_MUST_NOT_BE_INT_MAX,
        R.PENDING_ID_MUST_NOT_BE_INT_MAX,
    )
    if code is not None:
        return code
    if t.pending_id == t.id:
        return R.PENDING_ID_MUST_BE_DIFFERENT
    if t.timeout != 0:
        return R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER
    return None


def exists_result(t: Transfer, e: Transfer, pending: Transfer | None = None) -> CreateTransferResult:
    """Compare a retried event with the stored one: ``exists`` only when nothing the client sent differs.

    A post or void may leave fields 0, meaning "as the pending transfer has them" (and an amount of 0 means the
    full pending amount): a retry is compared by what its zeros stand for, so a retried "post everything" does not
    match an earlier partial post. A balancing transfer's amount is a maximum: it matches when it is at least what
    was moved.
    """
    if t.flags != e.flags:
        return R.EXISTS_WITH_DIFFERENT_FLAGS
    if t.pending_id != e.pending_id:
        return R.EXISTS_WITH_DIFFERENT_PENDING_ID
    if t.timeout != e.timeout:
        return R.EXISTS_WITH_DIFFERENT_TIMEOUT
    if t.flags & F.RESOLVING and pending is not None:
        t = Transfer(
            t.id,
            t.debit_account_id or pending.debit_account_id,
            t.credit_account_id or pending.credit_account_id,
            t.amount or pending.amount,
            t.ledger or pending.ledger,
            t.code or pending.code,
            t.flags,
            t.pending_id,
            t.timeout,
            t.user_data_128 or pending.user_data_128,
            t.user_data_64 or pending.user_data_64,
            t.user_data_32 or pending.user_data_32,
        )
    if t.debit_account_id != e.debit_account_id:
        return R.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID
    if t.credit_account_id != e.credit_account_id:
        return R.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID
    if t.flags & F.BALANCING:
        if t.amount < e.amount:
            return R.EXISTS_WITH_DIFFERENT_AMOUNT
    elif t.amount != e.amount:
        return R.EXISTS_WITH_DIFFERENT_AMOUNT
    return _first_difference(t, e, CreateTransferResult)


def check_account_fields(a: Account) -> CreateAccountResult | None:
    """The first structural fault of a new account, or None."""
    A = CreateAccountResult
    if a.timestamp != 0:
        return A.TIMESTAMP_MUST_BE_ZERO
    if a.flags < 0 or a.flags & ~AccountFlags.SETTABLE:
        return A.RESERVED_FLAG
    if a.id == 0:
        return A.ID_MUST_NOT_BE_ZERO
    if a.id == U128_MAX:
        return A.ID_MUST_NOT_BE_INT_MAX
    if a.id < 0 or a.id > U128_MAX:
        return A.ID_OUT_OF_RANGE
    if not (
        0 <= a.ledger <= U32_MAX
        and 0 <= a.code <= U16_MAX
        and 0 <= a.user_data_128 <= U128_MAX
        and 0 <= a.user_data_64 <= U64_MAX
        and 0 <= a.user_data_32 <= U32_MAX
    ):
        return A.FIELD_OUT_OF_RANGE
    both = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
    if (a.flags & both) == both:
        return A.FLAGS_ARE_MUTUALLY_EXCLUSIVE
    if a.debits_pending:
        return A.DEBITS_PENDING_MUST_BE_ZERO
    if a.debits_posted:
        return A.DEBITS_POSTED_MUST_BE_ZERO
    if a.credits_pending:
        return A.CREDITS_PENDING_MUST_BE_ZERO
    if a.credits_posted:
        return A.CREDITS_POSTED_MUST_BE_ZERO
    if a.ledger == 0:
        return A.LEDGER_MUST_NOT_BE_ZERO
    if a.code == 0:
        return A.CODE_MUST_NOT_BE_ZERO
    return None


def account_exists_result(a: Account, e: Account) -> CreateAccountResult:
    """What creating ``a`` answers when ``e`` is stored under its id: ``exists`` if they match, else the first field
    that differs (the account twin of ``exists_result``; a closed account still matches its creation flags)."""
    if a.flags != e.flags & ~AccountFlags.CLOSED:
        return CreateAccountResult.EXISTS_WITH_DIFFERENT_FLAGS
    return _first_difference(a, e, CreateAccountResult)


# The fields both accounts and transfers carry, in the order TigerBeetle compares them last for either.
_SHARED_FIELDS = ("user_data_128", "user_data_64", "user_data_32", "ledger", "code")
_Result = TypeVar("_Result", CreateAccountResult, CreateTransferResult)


def _first_difference(new: Account | Transfer, stored: Account | Transfer, results: type[_Result]) -> _Result:
    """``exists_with_different_<field>`` for the first shared field that differs, else ``exists``: both result
    enums name these codes alike."""
    for field in _SHARED_FIELDS:
        if getattr(new, field) != getattr(stored, field):
            return results["EXISTS_WITH_DIFFERENT_" + field.upper()]
    return results["EXISTS"]
