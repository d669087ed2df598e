"""What happens to a transfer after it is decided: the ledger chain, the record, audit and events.

``TransferService`` decides *whether* and *what*; this module makes it so, exactly once, and resumes cleanly after
a crash: the record is written (``processing``, with its chain) before the chain is sent to the ledger, and the
chain's ids are fixed, so resubmitting it after a crash can only answer ``exists`` for what was already applied.

A new transfer's three steps (record, chain, outcome) are ``services.transfer_submit``'s, which takes them for many
requests at once; here are a retry's (``existing``), and all that comes after: cancel, reverse, the scheduler's
``resume_stalled`` and ``post_due``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import replace

from pocketbank.domain.accounts import fee_account_id
from pocketbank.domain.channels import AuthMethod, Channel
from pocketbank.domain.principals import Principal, PrincipalKind
from pocketbank.domain.transfers import TransferRecord, TransferStatus, chain_failure, resolution_chain, reversal_chain
from pocketbank.errors import (
    IdempotencyKeyReused,
    InsufficientFunds,
    PocketBankError,
    TransferNotCancellable,
    TransferNotReversible,
)
from pocketbank.services.ledger import LedgerService
from pocketbank.services.ports import IdempotencyStore, StepUpPass, StepUpVerifier
from pocketbank.services.transfer_ports import Respond, TransferRecordStore
from pocketbank.services.transfer_submit import Submission, Submitter, audit_for, error_for, transfer_event
from pocketbank.services.unit import UnitDeps

MAX_REVERSAL_ATTEMPTS = 50


def system_principal(record: TransferRecord) -> Principal:
    """The bank's scheduler, acting on a customer's transfer through the channel it was made on."""
    return Principal(
        kind=PrincipalKind.SYSTEM,
        id=0,
        public_id="scheduler",
        session_id=0,
        channel=Channel(record.channel),
        auth_method=AuthMethod(record.auth_method),
    )


class TransferEffects:
    def __init__(
        self,
        deps: UnitDeps,
        records: TransferRecordStore,
        ledger: LedgerService,
        step_up: StepUpVerifier,
        replies: IdempotencyStore,
        *,
        batch_writers: int = 0,
    ) -> None:
        self.d, self.records, self.ledger = deps, records, ledger
        self.submitter = Submitter(deps, records, ledger, step_up, replies, writers=batch_writers)

    def close(self) -> None:
        self.submitter.close()

    # -- creation -------------------------------------------------------------------------------------------

    def existing(
        self, principal: Principal, record: TransferRecord | None, same: Callable[[TransferRecord], bool] | None = None
    ) -> TransferRecord | None:
        """The outcome of an earlier attempt with the same key (``record``, as read), resuming it if it was cut short.

        ``same`` tells a retry from a different request that reuses the key: that one is refused.
        """
        if record is None:
            return None
        if same is not None and not same(record):
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used for a different transfer; use a new key", param="Idempotency-Key"
            )
        if record.status is TransferStatus.PROCESSING:
            return self.submit(principal, record)
        if record.status is TransferStatus.FAILED:
            role, _, code = record.reason.partition("/")
            raise error_for(role, code)
        return record

    def submit(
        self,
        principal: Principal,
        record: TransferRecord,
        respond: Respond | None = None,
        step_up: StepUpPass | None = None,
    ) -> TransferRecord:
        """Record the intent (if new), send the chain, and write the outcome back (``services.transfer_submit``,
        in a batch with concurrent requests' transfers).

        ``respond`` makes the caller's answer from the record as it now stands, stored in the unit of work that
        writes a successful outcome, if this call is the one that writes it. ``step_up``: the proof that approved
        the transfer, spent with its record (``step_up_failed`` if another request spent it first).
        """
        submitted = self.submitter.submit(Submission(principal, record, respond, step_up))
        if submitted.error is not None:
            raise submitted.error
        return submitted.record if submitted.record is not None else self._current(record)

    # -- after creation -------------------------------------------------------------------------------------

    def cancel(self, principal: Principal, record: TransferRecord) -> TransferRecord:
        """Void a scheduled transfer's holds. Racing the scheduler, exactly one of the two wins in the ledger."""
        if record.status is TransferStatus.CANCELLED:
            return record
        if record.status is not TransferStatus.SCHEDULED:
            raise TransferNotCancellable("only a scheduled transfer that has not arrived can be cancelled")
        voids = resolution_chain(record.legs, "void")
        results = [r.value for r in self.ledger.create_transfers([leg.transfer for leg in voids])]
        if chain_failure(voids, results) is not None:
            raise TransferNotCancellable("the transfer has already been sent")
        self._move(principal, record, TransferStatus.CANCELLED, "transfer.cancelled", "cancelled by the payer",
                   record.status)  # fmt: skip
        return self._current(record)

    def reverse(self, staff: Principal, record: TransferRecord, reason: str, ledger: int) -> TransferRecord:
        """Reverse a posted transfer: record the request (``reversing``, with its reason), then send the chain.

        The request is written first so that a crash between the ledger and the record cannot leave the money moved
        back under a record that says ``posted``: the scheduler finishes a reversal left ``reversing``
        (``resume_stalled``). A supervisor who reverses a transfer already ``reversing`` joins that reversal (and
        its reason): both try the same chain ids, so the ledger applies it once.
        """
        # Twice at most: a record found posted again after losing the race to another reversal, refused meanwhile.
        for _ in range(2):
            if record.status is not TransferStatus.POSTED:
                break
            now = self.d.now()
            with self.d.uow.begin() as tx:
                started = self.records.set_status(
                    tx, record.id, TransferStatus.REVERSING, TransferStatus.POSTED, reason, at=now
                )
                if started:
                    detail: dict[str, object] = {"reason": reason}
                    self.d.audit.append(tx, audit_for(staff, "transfer.reversal_requested", record, now, detail))
            record = (
                replace(record, status=TransferStatus.REVERSING, reason=reason) if started else self._current(record)
            )
        if record.status is TransferStatus.REVERSED:
            raise TransferNotReversible("the transfer has already been reversed")
        if record.status is not TransferStatus.REVERSING:
            raise TransferNotReversible("only a posted transfer can be reversed")
        return self._complete_reversal(staff, record, ledger)

    def _complete_reversal(self, principal: Principal, record: TransferRecord, ledger: int) -> TransferRecord:
        """Send a ``reversing`` record's chain, trying attempt ids in order, and write the outcome either way."""
        for attempt in range(MAX_REVERSAL_ATTEMPTS):
            legs = reversal_chain(record, ledger=ledger, fee_account=fee_account_id(ledger, record.id), attempt=attempt)
            results = [r.value for r in self.ledger.create_transfers([leg.transfer for leg in legs])]
            failure = chain_failure(legs, results)
            if failure is None:
                # The chain applied, so the transfer is reversed, whatever the record says by now: a request that
                # saw an earlier attempt refused may have put it back to posted meanwhile.
                for expected in (TransferStatus.REVERSING, TransferStatus.POSTED):
                    if self._move(principal, record, TransferStatus.REVERSED, "transfer.reversed", record.reason,
                                  expected):  # fmt: skip
                        break
                return self._current(record)
            role, code = failure
            if code == "id_already_failed":
                continue  # an earlier try was refused; this one may go through now
            result = f"{role}/{code}"
            refused: PocketBankError = (
                InsufficientFunds("the payee's account no longer holds the amount", param="transfer_id")
                if code == "exceeds_credits"
                else error_for(role, code)
            )
            break
        else:
            result = "too_many_attempts"
            refused = TransferNotReversible("too many refused attempts to reverse this transfer")
        # Refused: nothing moved, so the transfer is posted again.
        self._move(principal, record, TransferStatus.POSTED, "transfer.reversal_refused", "", TransferStatus.REVERSING,
                   detail={"result": result}, publish=False)  # fmt: skip
        raise refused

    def resume_stalled(self, before: int, limit: int, ledger_of: Callable[[str], int]) -> int:
        """Finish what a request died in the middle of, and that no retry has finished since. Returns how many.

        - A transfer still ``processing`` (the request died between recording it and writing its outcome): resubmit
          the recorded chain (the ledger answers ``exists`` for what it applied) and write the outcome, its audit
          record and its event. Resubmitting is the only safe ending: a chain that may still be on its way to the
          ledger cannot be declared failed, and the ledger's ids make a second submission harmless.
        - A reversal still ``reversing``: the supervisor's request was recorded, so it is carried out, with the
          same attempt ids as the request used (``ledger_of`` names the ledger of a currency); if the ledger now
          refuses it, the transfer goes back to ``posted``.

        A request running at the same time ends the same way; whichever writes the outcome first writes the audit
        record and the event.
        """
        finished = 0
        for record in self.records.stalled(before, limit):
            system = system_principal(record)
            # A chain the ledger refuses raises, after its outcome (failed, or back to posted) has been written.
            with suppress(PocketBankError):
                if record.status is TransferStatus.REVERSING:
                    self._complete_reversal(system, record, ledger_of(record.currency))
                else:
                    self.submit(system, record)
            finished += 1
        return finished

    def post_due(self, now: int, limit: int) -> int:
        posted = 0
        for record in self.records.due(now, limit):
            posts = resolution_chain(record.legs, "post")
            results = [r.value for r in self.ledger.create_transfers([leg.transfer for leg in posts])]
            failure = chain_failure(posts, results)
            system = system_principal(record)
            if failure is not None:
                if failure[1] == "pending_transfer_already_voided":
                    # The payer's cancel voided the holds. A cancel still running writes its own status; one that
                    # died before it could would leave the transfer "scheduled" for good, so it is written here
                    # (whichever writes first, the other finds it cancelled).
                    self._move(
                        system, record, TransferStatus.CANCELLED, "transfer.cancelled",
                        "cancelled by the payer (finished by the scheduler)", TransferStatus.SCHEDULED,
                    )  # fmt: skip
                continue
            self._move(system, record, TransferStatus.POSTED, "transfer.posted", "", TransferStatus.SCHEDULED)
            posted += 1
        return posted

    def _move(
        self,
        principal: Principal,
        record: TransferRecord,
        status: TransferStatus,
        action: str,
        reason: str,
        expected: TransferStatus,
        *,
        detail: dict[str, object] | None = None,
        publish: bool = True,
    ) -> bool:
        """Move the record from ``expected`` to ``status`` with its audit record (and event, with ``publish``), in
        one unit of work. False, writing nothing, when the record was not ``expected``: whoever moved it wrote
        those."""
        event = transfer_event(self.d, action, record) if publish else None
        now = self.d.now()
        with self.d.uow.begin() as tx:
            won = self.records.set_status(tx, record.id, status, expected, reason, at=now)
            if won:
                self.d.audit.append(tx, audit_for(principal, action, record, now, {"reason": reason, **(detail or {})}))
                if event is not None:
                    self.d.outbox.add(tx, event)
        if won and event is not None:
            self.d.bus.publish([event])
        return won

    def _current(self, record: TransferRecord) -> TransferRecord:
        current = self.records.get(record.id)
        assert current is not None  # records are never deleted
        return current
