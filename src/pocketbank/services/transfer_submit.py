"""Submitting new transfers: their records, chains and outcomes, many requests' at a time.

A transfer is written in three steps, so that a crash anywhere leaves something a retry or the scheduler can finish
(``services.transfer_effects``): its record, ``processing``, with the chain it is about to send; the chain, to the
ledger; and its outcome (the status, an audit record, an event, and the caller's stored answer). What a transfer
costs is mostly the statements of those steps: some 50-100 µs of CPU each in the API worker, and as much again in
PostgreSQL, whatever a statement holds.

So concurrent requests take the steps together, through a ``GroupCommitter`` as the ledger's own group commit does:
a writer thread takes every submission that queued while it wrote the last batch, writes all their records in one
statement (spending the SMS step-up proofs that approved them, checked but not spent by the request: see
``StepUpVerifier.check``), sends all their chains in one ledger call, and writes all their outcomes in one unit of
work with one statement per table. Each transfer keeps its own fate:

- a proof is spent by a compare-and-set with its transfer's record, so a proof that another request spent first
  (a replay racing the original) records nothing and is refused as a spent proof is;
- the chains sit side by side in the ledger call, and each linked chain applies or fails on its own;
- each outcome is a compare-and-set on its own record (``StatusChange``), so a submission whose transfer another
  request finished first (a retry, the scheduler) writes nothing and answers with what that one wrote;
- a batch that fails as a whole (the database unreachable) fails each of its requests, and leaves their records
  ``processing`` for the retry or the scheduler, as if each request had died there on its own.

With no writer threads (``writers=0``) each request runs the same steps for its own transfer, in its own thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from pocketbank.domain.audit import AuditRecord, audit_by
from pocketbank.domain.events import DomainEvent
from pocketbank.domain.ids import IdKind, format_id
from pocketbank.domain.principals import Principal
from pocketbank.domain.transfers import StatusChange, TransferRecord, TransferStatus, chain_failure
from pocketbank.errors import (
    AccountClosed,
    Conflict,
    InsufficientFunds,
    LimitExceeded,
    PocketBankError,
    StepUpFailed,
)
from pocketbank.services.group_commit import GroupCommitter
from pocketbank.services.ledger import LedgerService
from pocketbank.services.ports import IdempotencyStore, Reply, StepUpPass, StepUpVerifier
from pocketbank.services.transfer_ports import Respond, TransferRecordStore
from pocketbank.services.unit import UnitDeps

# Submissions per batch: some 5 ledger transfers each, so the ledger's own batch stays well under its 8,190.
MAX_BATCH = 512


def audit_for(
    principal: Principal, action: str, record: TransferRecord, at: int, detail: dict[str, object]
) -> AuditRecord:
    subject = format_id(IdKind.TRANSFER, record.id)
    return audit_by(principal, action, subject, at, amount=record.amount, currency=record.currency, **detail)


def transfer_event(deps: UnitDeps, action: str, record: TransferRecord) -> DomainEvent:
    data = {
        "transfer": format_id(IdKind.TRANSFER, record.id),
        "customer": format_id(IdKind.CUSTOMER, record.customer_id),
        "amount": record.amount,
        "currency": record.currency,
        "fee": record.fee,
        "arrival": record.arrival,
        "auth_method": record.auth_method,
    }
    return deps.event(action, record.channel, deps.now(), **data)


def _proof_spent() -> StepUpFailed:
    """A checked proof that another request spent first: refused as ``StepUpVerifier.verify`` refuses a spent one."""
    return StepUpFailed("the step-up code is wrong, expired or for a different request", param="code")


def error_for(role: str, code: str) -> PocketBankError:
    """The customer-facing error for the leg that failed and the ledger's reason."""
    if role.startswith("limit:") and code == "exceeds_credits":
        scope = role.split(":")[1] + ":" + role.split(":")[2]
        return LimitExceeded(f"this transfer is over your {scope} limit", scope=scope, limit=0)
    if code == "exceeds_credits":
        what = "the amount and its fee" if role == "fee" else "the amount"
        return InsufficientFunds(f"the available balance does not cover {what}", param="amount")
    if code in ("debit_account_already_closed", "credit_account_already_closed"):
        return AccountClosed("one of the accounts is closed", param="to_account")
    return Conflict(f"the ledger refused the transfer ({role}: {code})", param="amount")


@dataclass(frozen=True, slots=True)
class Submission:
    principal: Principal
    record: TransferRecord  # as recorded before its chain is sent: ``processing``
    respond: Respond | None = None  # its answer, stored with a successful outcome if this submission writes it
    step_up: StepUpPass | None = None  # the proof that approved it, spent with the record


@dataclass(frozen=True, slots=True)
class Submitted:
    """What became of a submission. ``record``: as this submission left it; None when another request wrote the
    outcome first. ``error``: the ledger refused the chain, so the transfer failed (whoever wrote that)."""

    record: TransferRecord | None
    error: PocketBankError | None = None


@dataclass(frozen=True, slots=True)
class _Decided:
    """A submission's outcome as the ledger decided it, before it is written."""

    submission: Submission
    change: StatusChange
    failure: tuple[str, str] | None  # (the leg's role, the ledger's result) when the chain failed


class Submitter:
    def __init__(
        self,
        deps: UnitDeps,
        records: TransferRecordStore,
        ledger: LedgerService,
        step_up: StepUpVerifier,
        replies: IdempotencyStore,
        *,
        writers: int = 0,
    ) -> None:
        self.d, self.records, self.ledger, self.step_up, self.replies = deps, records, ledger, step_up, replies
        self._batches: GroupCommitter[Submission, Submitted] | None = None
        if writers > 0:
            self._batches = GroupCommitter(self._apply, writers=writers, max_batch=MAX_BATCH, name="transfers")

    def close(self) -> None:
        if self._batches is not None:
            self._batches.close()

    def submit(self, submission: Submission) -> Submitted:
        """Record, send and finish one transfer, in whatever batch it joins (blocks until its outcome is written)."""
        if self._batches is None:
            return self.submit_many([submission])[0]
        (submitted,) = self._batches.submit([submission])
        return submitted

    def _apply(self, segments: list[Sequence[Submission]], handoff: Callable[[], None]) -> list[list[Submitted]]:
        flat = self.submit_many([s for segment in segments for s in segment], handoff)
        answers = iter(flat)
        return [[next(answers) for _ in segment] for segment in segments]

    def submit_many(self, batch: Sequence[Submission], handoff: Callable[[], None] | None = None) -> list[Submitted]:
        """The three steps for every submission of ``batch``; one answer each, in order. ``handoff``: called once
        the records are written, to let another writer start forming the next batch meanwhile."""
        recorded = self._record(batch)
        if handoff is not None:
            handoff()
        kept = [s for s, spent in zip(batch, recorded, strict=True) if spent]
        finished = iter(self._finish(self._send(kept)))
        return [next(finished) if spent else Submitted(None, _proof_spent()) for spent in recorded]

    def _record(self, batch: Sequence[Submission]) -> list[bool]:
        """Write the records, spending the proofs that approved them: False for a submission whose proof another
        request spent first (or spends earlier in this batch), which is recorded nowhere."""
        passes = [s.step_up for s in batch if s.step_up is not None]
        if not passes:
            with self.d.uow.single() as tx:  # each record may commit alone: a retry or the scheduler finishes it
                self.records.insert_many(tx, [s.record for s in batch])
            return [True] * len(batch)
        with self.d.uow.begin() as tx:
            spendable = self.step_up.spend_many(tx, passes, self.d.now())
            recorded = []
            for s in batch:
                if s.step_up is None:
                    recorded.append(True)
                    continue
                recorded.append(s.step_up.challenge_id in spendable)
                spendable.discard(s.step_up.challenge_id)  # one proof approves one transfer
            kept = [s for s, spent in zip(batch, recorded, strict=True) if spent]
            self.d.audit.append_many(tx, [s.step_up.audit for s in kept if s.step_up is not None])
            self.records.insert_many(tx, [s.record for s in kept])
        return recorded

    def _send(self, batch: Sequence[Submission]) -> list[_Decided]:
        """Every chain in one ledger call, side by side; each submission's outcome from its own chain's results."""
        results = self.ledger.create_transfers([leg.transfer for s in batch for leg in s.record.legs])
        decided = []
        start = 0
        for s in batch:
            legs = s.record.legs
            own = [r.value for r in results[start : start + len(legs)]]
            start += len(legs)
            failure = chain_failure(legs, own)
            if failure is None:
                final = TransferStatus.SCHEDULED if s.record.scheduled_for is not None else TransferStatus.POSTED
                decided.append(_Decided(s, StatusChange(s.record.id, final, TransferStatus.PROCESSING), None))
                continue
            role, code = failure
            if code == "id_already_failed":
                # A retry of a chain that failed before: report the original reason, not the retry's.
                leg = next(leg for leg in legs if leg.role == role)
                code = self.ledger.failed_result(leg.transfer.id) or code
            change = StatusChange(s.record.id, TransferStatus.FAILED, TransferStatus.PROCESSING, f"{role}/{code}")
            decided.append(_Decided(s, change, (role, code)))
        return decided

    def _finish(self, decided: Sequence[_Decided]) -> list[Submitted]:
        """Write every outcome in one unit of work; publish the events once it has committed."""
        if not decided:
            return []
        now = self.d.now()
        audits: list[AuditRecord] = []
        events: list[DomainEvent] = []
        replies: list[Reply] = []
        submitted: list[Submitted] = []
        with self.d.uow.begin() as tx:
            moved = self.records.set_status_many(tx, [d.change for d in decided], at=now)
            for d in decided:
                s, record = d.submission, d.submission.record
                # False when a concurrent retry (or the scheduler) finished it first: that one wrote audit and event.
                # A transfer submitted twice in one batch moved once: the first submission of it wrote the outcome.
                won = record.id in moved
                moved.discard(record.id)
                if d.failure is not None:
                    role, code = d.failure
                    if won:
                        detail: dict[str, object] = {"leg": role, "result": code}
                        audits.append(audit_for(s.principal, "transfer.failed", record, now, detail))
                    submitted.append(Submitted(None, error_for(role, code)))
                    continue
                if not won:
                    submitted.append(Submitted(None))
                    continue
                done = replace(record, status=d.change.status)  # what the row now holds: no need to read it back
                audits.append(audit_for(s.principal, "transfer.created", record, now, {"fee": record.fee}))
                events.append(transfer_event(self.d, "transfer.created", record))
                if s.respond is not None:
                    replies.append(s.respond(done))
                submitted.append(Submitted(done))
            self.d.audit.append_many(tx, audits)
            self.d.outbox.add_many(tx, events)
            self.replies.complete_many(tx, replies)
        if events:
            self.d.bus.publish(events)
        return submitted
