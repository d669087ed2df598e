"""What happens to a transfer after it is decided: the ledger chain, the record, audit and events.

``TransferService`` decides *whether* and *what*; this module makes it so, exactly once, and resumes cleanly after
a crash: the record is written (``processing``, with its chain) before the chain is sent to the ledger, and the
chain's ids are fixed, so resubmitting it after a crash can only answer ``exists`` for what was already applied.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import replace
from typing import Protocol

from pocketbank.domain.accounts import fee_account_id
from pocketbank.domain.audit import AuditRecord, audit_by
from pocketbank.domain.channels import AuthMethod, Channel
from pocketbank.domain.events import DomainEvent
from pocketbank.domain.ids import IdKind, format_id
from pocketbank.domain.principals import Principal, PrincipalKind
from pocketbank.domain.transfers import (
    ChainLeg,
    TransferRecord,
    TransferStatus,
    chain_failure,
    resolution_chain,
    reversal_chain,
)
from pocketbank.errors import (
    AccountClosed,
    Conflict,
    IdempotencyKeyReused,
    InsufficientFunds,
    LimitExceeded,
    PocketBankError,
    TransferNotCancellable,
    TransferNotReversible,
)
from pocketbank.services.ledger import LedgerService
from pocketbank.services.ports import Tx
from pocketbank.services.unit import UnitDeps


class TransferRecordStore(Protocol):
    def insert(self, tx: Tx, t: TransferRecord) -> bool: ...

    def get(self, transfer_id: int) -> TransferRecord | None: ...

    def set_status(
        self, tx: Tx, transfer_id: int, status: TransferStatus, expected: TransferStatus, reason: str = ""
    ) -> bool: ...

    def due(self, now: int, limit: int = 500) -> list[TransferRecord]: ...

    def stalled(self, before: int, limit: int = 100) -> list[TransferRecord]:
        """Records still ``processing`` that were created at or before ``before`` (ns), oldest first."""
        ...

    def get_many(self, ids: list[int]) -> dict[int, TransferRecord]: ...


# What a caller does in the unit of work that records a transfer's outcome (see ``TransferEffects.submit``).
Respond = Callable[[Tx, TransferRecord], None]

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


def _audit(
    principal: Principal, action: str, record: TransferRecord, at: int, detail: dict[str, object]
) -> AuditRecord:
    subject = format_id(IdKind.TRANSFER, record.id)
    return audit_by(principal, action, subject, at, amount=record.amount, currency=record.currency, **detail)


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


def raise_for_chain(ledger: LedgerService, legs: Sequence[ChainLeg], results: Sequence[str]) -> None:
    """Raise the error that explains a failed chain; return when every leg applied or already existed."""
    failure = chain_failure(legs, results)
    if failure is None:
        return
    role, code = failure
    if code == "id_already_failed":
        # A retry of a chain that failed before: report the original reason, not the retry's.
        leg = next(leg for leg in legs if leg.role == role)
        code = ledger.failed_result(leg.transfer.id) or code
    raise error_for(role, code)


class TransferEffects:
    def __init__(
        self,
        deps: UnitDeps,
        records: TransferRecordStore,
        ledger: LedgerService,
    ) -> None:
        self.d, self.records, self.ledger = deps, records, ledger

    # -- creation -------------------------------------------------------------------------------------------

    def existing(
        self, principal: Principal, transfer_id: int, same: Callable[[TransferRecord], bool] | None = None
    ) -> TransferRecord | None:
        """The outcome of an earlier attempt with the same key, resuming it if it was cut short.

        ``same`` tells a retry from a different request that reuses the key: that one is refused.
        """
        record = self.records.get(transfer_id)
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

    def submit(self, principal: Principal, record: TransferRecord, respond: Respond | None = None) -> TransferRecord:
        """Record the intent (if new), send the chain, and write the outcome back.

        ``respond`` runs in the unit of work that writes a successful outcome, with the record as it now stands,
        if this call is the one that writes it.
        """
        with self.d.uow.single() as tx:
            self.records.insert(tx, record)
        results = [r.value for r in self.ledger.create_transfers([leg.transfer for leg in record.legs])]
        failure = chain_failure(record.legs, results)
        if failure is not None:
            role, code = failure
            if code == "id_already_failed":
                leg = next(leg for leg in record.legs if leg.role == role)
                code = self.ledger.failed_result(leg.transfer.id) or code
            with self.d.uow.begin() as tx:
                self.records.set_status(
                    tx, record.id, TransferStatus.FAILED, TransferStatus.PROCESSING, f"{role}/{code}"
                )
                self.d.audit.append(
                    tx,
                    _audit(principal, "transfer.failed", record, self.d.now(), {"leg": role, "result": code}),
                )
            raise error_for(role, code)
        final = TransferStatus.SCHEDULED if record.scheduled_for is not None else TransferStatus.POSTED
        event = self._event(principal, "transfer.created", record)
        done = replace(record, status=final)  # what the row will hold: no need to read it back
        with self.d.uow.begin() as tx:
            # False when a concurrent retry finished it first: then that retry wrote the audit and the event.
            won = self.records.set_status(tx, record.id, final, TransferStatus.PROCESSING)
            if won:
                self.d.audit.append(
                    tx, _audit(principal, "transfer.created", record, self.d.now(), {"fee": record.fee})
                )
                self.d.outbox.add(tx, event)
                if respond is not None:
                    respond(tx, done)
        if won:
            self.d.bus.publish([event])
            return done
        current = self.records.get(record.id)
        assert current is not None
        return current

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
        return self._finish(principal, record, TransferStatus.CANCELLED, "transfer.cancelled", "cancelled by the payer")

    def reverse(self, staff: Principal, record: TransferRecord, reason: str, ledger: int) -> TransferRecord:
        if record.status is TransferStatus.REVERSED:
            raise TransferNotReversible("the transfer has already been reversed")
        if record.status is not TransferStatus.POSTED:
            raise TransferNotReversible("only a posted transfer can be reversed")
        for attempt in range(MAX_REVERSAL_ATTEMPTS):
            legs = reversal_chain(record, ledger=ledger, fee_account=fee_account_id(ledger, record.id), attempt=attempt)
            results = [r.value for r in self.ledger.create_transfers([leg.transfer for leg in legs])]
            failure = chain_failure(legs, results)
            if failure is None:
                return self._finish(staff, record, TransferStatus.REVERSED, "transfer.reversed", reason)
            role, code = failure
            if code == "id_already_failed":
                continue  # an earlier try was refused; this one may go through now
            if code == "exceeds_credits":
                raise InsufficientFunds("the payee's account no longer holds the amount", param="transfer_id")
            raise error_for(role, code)
        raise TransferNotReversible("too many refused attempts to reverse this transfer")

    def resume_stalled(self, before: int, limit: int) -> int:
        """Finish the transfers whose request died between recording them and writing their outcome, and that no
        retry has finished since: resubmit the recorded chain (the ledger answers ``exists`` for what it applied)
        and write the outcome, its audit record and its event. Returns how many were finished.

        Resubmitting is the only safe ending: a chain that may still be on its way to the ledger cannot be declared
        failed, and the ledger's ids make a second submission harmless. A retry running at the same time ends the
        same way; whichever writes the outcome first writes the audit record and the event.
        """
        finished = 0
        for record in self.records.stalled(before, limit):
            # A chain the ledger refuses raises: submit has recorded the transfer as failed, with its reason.
            with suppress(PocketBankError):
                self.submit(system_principal(record), record)
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
                    self._finish(
                        system, record, TransferStatus.CANCELLED, "transfer.cancelled",
                        "cancelled by the payer (finished by the scheduler)", expected=TransferStatus.SCHEDULED,
                    )  # fmt: skip
                continue
            self._finish(
                system, record, TransferStatus.POSTED, "transfer.posted", "", expected=TransferStatus.SCHEDULED
            )
            posted += 1
        return posted

    def _finish(
        self,
        principal: Principal,
        record: TransferRecord,
        status: TransferStatus,
        action: str,
        reason: str,
        expected: TransferStatus | None = None,
    ) -> TransferRecord:
        event = self._event(principal, action, record)
        with self.d.uow.begin() as tx:
            if self.records.set_status(tx, record.id, status, expected or record.status, reason):
                self.d.audit.append(tx, _audit(principal, action, record, self.d.now(), {"reason": reason}))
                self.d.outbox.add(tx, event)
        self.d.bus.publish([event])
        done = self.records.get(record.id)
        assert done is not None
        return done

    def _event(self, principal: Principal, action: str, record: TransferRecord) -> DomainEvent:
        data = {
            "transfer": format_id(IdKind.TRANSFER, record.id),
            "customer": format_id(IdKind.CUSTOMER, record.customer_id),
            "amount": record.amount,
            "currency": record.currency,
            "fee": record.fee,
            "arrival": record.arrival,
            "auth_method": record.auth_method,
        }
        return self.d.event(action, record.channel, self.d.now(), **data)
