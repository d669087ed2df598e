"""Transfers as the customer sees them: one payment, its fee, its arrival mode, and its life.

Behind every transfer is one linked chain on the ledger: the payment itself, the fee (its own leg, to the bank's
fee income, only when there is a fee), and one leg per period limit that applies (on the limit ledger, see
``domain.accounts``). The chain applies all or nothing, so a transfer never happens without its fee or without
counting against the customer's limits, and a limit that only one of two concurrent transfers fits stops the
other inside the ledger.

The transfer's id is derived from the customer and the request's ``Idempotency-Key``, so a retried request finds
its transfer. The chain's ledger ids are new, time-ordered ids (``integrations.ids.new_id``) written into the
transfer's record with the chain before the chain goes to the ledger: a retry or a resumption resubmits the recorded
chain, and the ledger answers ``exists`` instead of moving the money again, even if the first attempt's response
was lost. Why not derive them too: hashed ids land at random places in the ledger's id index, so each new transfer
dirtied a page of its own (on SQLite, batches of 1,000 committed at a third of the rate of increasing ids); ids
that grow with time are appended. Every leg names the transfer in ``user_data_128``.

Life of a transfer:

- ``processing``: the intent is recorded before the chain goes to the ledger, so a crash in between leaves a
  record that a retry (same key) resumes by resubmitting the same chain; the ledger's ids make that exactly-once.
- ``failed``: the ledger refused the chain (insufficient funds, a limit); nothing moved.
- ``posted``: real-time arrival; the chain was applied as posted transfers.
- ``scheduled``: delayed (+2 h) or next-day arrival; the chain is *pending* (the money is held, not moved) until the
  scheduler posts it, or the payer cancels it (the holds are voided) -> ``cancelled``.
- ``reversing``: a supervisor asked to reverse a posted transfer; the request, with its reason, is recorded before
  the reversal chain goes to the ledger, so a crash in between leaves a record that the scheduler (or the
  supervisor's retry) finishes. If the ledger refuses the reversal (the payee spent the money) it goes back to
  ``posted``.
- ``reversed``: the reversal chain applied (new transfers, in the opposite direction). Whatever status the record
  shows at that moment, the ledger has decided: the record follows it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from pocketbank.domain.accounts import LIMIT_LEDGER, derive_id
from pocketbank.domain.accounts import TransferCode as TC
from pocketbank.domain.ledger import Transfer, TransferFlags


class TransferStatus(StrEnum):
    PROCESSING = "processing"  # recorded, chain sent to the ledger, outcome not yet written back
    FAILED = "failed"  # the ledger refused the chain; ``reason`` holds the error code
    POSTED = "posted"
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    REVERSING = "reversing"  # a supervisor's reversal is recorded; its chain may or may not have applied yet
    REVERSED = "reversed"


@dataclass(frozen=True, slots=True)
class TransferRecord:
    id: int  # each leg of the chain names it in user_data_128
    customer_id: int
    from_account: int
    to_account: int
    amount: int
    currency: str
    fee: int
    fee_rule: str
    channel: str
    auth_method: str
    arrival: str
    status: TransferStatus
    created_at: int
    scheduled_for: int | None = None
    payee_id: int | None = None
    memo: str = ""
    reason: str = ""  # why it failed, was reversed or was cancelled
    legs: tuple[ChainLeg, ...] = ()  # the ledger chain, kept so a retry or the scheduler can resume it


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A move of one record from ``expected`` to ``status``: it happens only if the record is still ``expected``
    (compare-and-set), so of two requests finishing the same transfer exactly one writes its outcome."""

    transfer_id: int
    status: TransferStatus
    expected: TransferStatus
    reason: str = ""


def transfer_id_for(customer_id: int, idempotency_key: str) -> int:
    """The transfer's id, derived from who asked and the request's idempotency key."""
    return derive_id("transfer", customer_id, idempotency_key)


def resolution_id(leg_id: int, action: str) -> int:
    """The id of the post or void that resolves a pending leg (one per leg and action, so retries dedupe)."""
    return derive_id(leg_id, action)


# -- the ledger chain behind a transfer ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LimitLeg:
    """One period limit the transfer counts against: the allowance account to debit and where usage goes."""

    scope: str
    period: str  # the calendar bucket, e.g. "2026-11-27"
    allowance_account: int
    usage_account: int
    ledger: int = LIMIT_LEDGER  # the limit ledger of the transfer's currency (domain.accounts.limit_ledger)


@dataclass(frozen=True, slots=True)
class ChainLeg:
    role: str  # "payment", "fee" or "limit:<scope>:<period>"
    transfer: Transfer


def payment_chain(
    transfer_id: int,
    leg_ids: Iterator[int],
    *,
    from_account: int,
    to_account: int,
    amount: int,
    ledger: int,
    fee: int,
    fee_account: int,
    limit_amount: int,
    limits: Sequence[LimitLeg],
    scheduled: bool,
) -> list[ChainLeg]:
    """The linked chain for one transfer: payment, fee, limit usage; pending when the arrival is scheduled.

    ``leg_ids`` gives each leg its ledger id, in that order (new ids: see the module docstring).
    """
    base = TransferFlags.PENDING if scheduled else TransferFlags.NONE
    # Every leg carries the transfer's id in user_data_128 (and a post inherits it), so a statement entry finds its
    # transfer from whichever leg it shows.
    ref = transfer_id
    payment = Transfer(next(leg_ids), from_account, to_account, amount, ledger, TC.INTRA_BANK, base, user_data_128=ref)
    legs = [ChainLeg("payment", payment)]
    if fee > 0:
        fee_leg = Transfer(next(leg_ids), from_account, fee_account, fee, ledger, TC.FEE, base, user_data_128=ref)
        legs.append(ChainLeg("fee", fee_leg))
    for lim in limits:
        usage = Transfer(
            next(leg_ids), lim.allowance_account, lim.usage_account, limit_amount,
            lim.ledger, TC.LIMIT_USAGE, base, user_data_128=ref,
        )  # fmt: skip
        legs.append(ChainLeg(f"limit:{lim.scope}:{lim.period}", usage))
    return _link(legs)


def resolution_chain(legs: Sequence[ChainLeg], action: str) -> list[ChainLeg]:
    """Post (``"post"``) or void (``"void"``) every pending leg of a scheduled transfer, all or none."""
    flag = TransferFlags.POST_PENDING_TRANSFER if action == "post" else TransferFlags.VOID_PENDING_TRANSFER
    out = [
        ChainLeg(
            leg.role, Transfer(resolution_id(leg.transfer.id, action), 0, 0, 0, 0, 0, flag, pending_id=leg.transfer.id)
        )
        for leg in legs
    ]
    return _link(out)


def reversal_chain(record: TransferRecord, *, ledger: int, fee_account: int, attempt: int = 0) -> list[ChainLeg]:
    """Money back from the payee to the payer, and the fee back from fee income; all or none.

    ``attempt`` numbers the tries: a refused try's ids stay failed in the ledger forever, so the next try needs new
    ids; every request tries the numbers in order, so they all converge on the same successful one.
    """
    ref = record.id
    legs = [
        ChainLeg(
            "payment",
            Transfer(
                derive_id(record.id, "reversal", attempt),
                record.to_account,
                record.from_account,
                record.amount,
                ledger,
                TC.REVERSAL,
                user_data_128=ref,
            ),
        )
    ]
    if record.fee > 0:
        legs.append(
            ChainLeg(
                "fee",
                Transfer(
                    derive_id(record.id, "fee-reversal", attempt),
                    fee_account,
                    record.from_account,
                    record.fee,
                    ledger,
                    TC.FEE_REVERSAL,
                    user_data_128=ref,
                ),
            )
        )
    return _link(legs)


def _link(legs: list[ChainLeg]) -> list[ChainLeg]:
    linked = []
    for i, leg in enumerate(legs):
        t = leg.transfer
        flags = t.flags | TransferFlags.LINKED if i < len(legs) - 1 else t.flags & ~TransferFlags.LINKED
        linked.append(ChainLeg(leg.role, replace(t, flags=flags)))
    return linked


def chain_failure(legs: Sequence[ChainLeg], results: Sequence[str]) -> tuple[str, str] | None:
    """The leg that made a chain fail and the ledger's reason, or None when every leg applied (or existed).

    In a failed chain the culprit has its own code and the others ``linked_event_failed``.
    """
    if all(r in ("ok", "exists") for r in results):
        return None
    for leg, result in zip(legs, results, strict=True):
        if result not in ("ok", "exists", "linked_event_failed"):
            return leg.role, result
    return legs[0].role, results[0]
