"""Ports shared by every part: the unit of work, the audit log, the outbox, ids and the event bus.

A service function is one use case in one unit of work::

    with uow.begin() as tx:
        customers.insert(tx, customer)
        audit.append(tx, AuditRecord(...))
        outbox.add(tx, DomainEvent(...))
    bus.publish(events)          # after the commit, never before

``Tx`` is opaque to services: each store port receives it and knows what it is (a SQLAlchemy connection in a
transaction, for the SQL adapters).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pocketbank.domain.audit import AuditRecord
from pocketbank.domain.channels import AuthMethod
from pocketbank.domain.events import DomainEvent
from pocketbank.domain.principals import Principal

if TYPE_CHECKING:  # auth_ports imports this module
    from pocketbank.services.auth_ports import ChallengeRecord

Tx = Any  # opaque transaction handle, passed from UnitOfWork.begin() to the store ports


class UnitOfWork(Protocol):
    def begin(self) -> AbstractContextManager[Tx]:
        """A transaction: commits when the block ends normally, rolls back when it raises."""
        ...

    def single(self) -> AbstractContextManager[Tx]:
        """For a single statement that is a whole transaction: the store may let it commit as it runs (one round
        trip rather than three). Never for two statements that must commit together."""
        ...


class AuditLog(Protocol):
    def append(self, tx: Tx, record: AuditRecord) -> None: ...

    def append_many(self, tx: Tx, records: Sequence[AuditRecord]) -> None:
        """``append`` each, in order (the store may write them in fewer statements)."""
        ...

    def verify(self, stream: str | None = None) -> list[str]:
        """Problems found in the hash chains (one stream, or all); empty when intact."""
        ...


class Outbox(Protocol):
    def add(self, tx: Tx, event: DomainEvent) -> None: ...

    def add_many(self, tx: Tx, events: Sequence[DomainEvent]) -> None: ...

    def undispatched(self, limit: int = 1000) -> list[DomainEvent]: ...

    def mark_dispatched(self, ids: Sequence[str], at: int) -> None: ...

    def purge_dispatched(self, older_than: int, limit: int) -> int:
        """Delete up to ``limit`` events dispatched before ``older_than`` (ns); never one not yet dispatched."""
        ...


@dataclass(frozen=True, slots=True)
class IdempotentResponse:
    status: int
    body: str  # the JSON body exactly as first sent


@dataclass(frozen=True, slots=True)
class Reply:
    """A response to store under a claimed key, for its retries to replay (``IdempotencyStore.complete_many``)."""

    principal: str
    key: str
    response: IdempotentResponse


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    """The outcome of claiming a key: ``replay`` holds the stored response of a completed first request."""

    replay: IdempotentResponse | None


class IdempotencyStore(Protocol):
    def claim(self, principal: str, key: str, fingerprint: str, now: int, lease_ns: int) -> IdempotencyClaim:
        """Claim (principal, key) for a new request, or return the stored response of the completed first one.

        Raises ``IdempotencyKeyReused`` for a different fingerprint and ``IdempotencyKeyInUse`` while the first
        request is still running (its lease has not run out).
        """
        ...

    def complete(self, principal: str, key: str, response: IdempotentResponse, now: int) -> None:
        """Store the response to replay, in a transaction of its own (after the operation's last one)."""
        ...

    def complete_many(self, tx: Tx, replies: Sequence[Reply]) -> None:
        """Store each reply inside the operation's unit of work ``tx``: it is then stored exactly when the outcome
        it describes commits, and never without it (Stripe's "atomic phases"). One statement on PostgreSQL."""
        ...

    def release(self, principal: str, key: str) -> None:
        """Forget a claim whose request failed unexpectedly, so a retry runs it again (the transfer's id is derived
        from the key and its ledger chain recorded with it, so running again can never move money twice)."""
        ...

    def purge(self, older_than: int, limit: int) -> int:
        """Delete up to ``limit`` keys claimed before ``older_than`` (ns), oldest first; returns how many."""
        ...


class IdGenerator(Protocol):
    def new(self) -> int:
        """A new 128-bit id, time-sortable and unguessable."""
        ...


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    """What the broker acknowledged of a batch: always a prefix of it, in order."""

    acknowledged: int  # the first ``acknowledged`` events are stored by the broker (new, or already there)
    duplicates: int = 0  # of those, how many the broker recognised as re-publishes (same event id) and dropped


class EventPublisher(Protocol):
    """Publishes committed events to a message broker for other processes (``services.outbox_relay``)."""

    def publish(self, events: Sequence[DomainEvent]) -> PublishOutcome:
        """Publish ``events`` in order, each waiting for the broker's acknowledgement, and stop at the first one
        that is not acknowledged in time. Transport failures are logged and reported as a shorter prefix, never
        raised: the events after it stay in the outbox for the next pass."""
        ...

    def close(self) -> None: ...


EventHandler = Callable[[DomainEvent], None]


class EventBus:
    """In-process subscribers for events that have been committed."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[EventHandler]] = {}

    def subscribe(self, event_type: str, handler: EventHandler) -> None:
        self._handlers.setdefault(event_type, []).append(handler)

    def publish(self, events: Iterable[DomainEvent]) -> None:
        for event in events:
            for handler in self._handlers.get(event.type, []) + self._handlers.get("*", []):
                handler(event)


class Authenticator(Protocol):
    def authenticate(self, access_token: str, now: int) -> Principal:
        """The principal behind a bearer access token; ``Unauthenticated`` if missing, expired, revoked or idle."""
        ...


@dataclass(frozen=True, slots=True)
class StepUpPass:
    """A step-up proof checked and found good, not yet spent (``StepUpVerifier.check``).

    The use case spends it (``spend_many``) in the unit of work that records what it approved, and appends
    ``audit`` there: the proof is spent exactly when that commits, and if another request spent it first, the use
    case records nothing and refuses, as a spent proof is refused.
    """

    challenge_id: int
    method: AuthMethod
    audit: AuditRecord  # stepup.verified


class StepUpVerifier(Protocol):
    def verify(self, principal: Principal, challenge_id: str, code: str, binding: str, now: int) -> AuthMethod:
        """Consume a step-up proof bound to ``binding`` (``domain.stepup.binding_digest`` of amount and payee).

        Returns the method that was proven (sms, totp or pin), which selects the limit tier. Raises
        ``StepUpFailed`` when the code is wrong, used, expired, or was issued for a different binding.
        """
        ...

    def check(
        self, principal: Principal, challenge_id: str, code: str, binding: str, now: int, found: ChallengeRecord | None
    ) -> StepUpPass | AuthMethod:
        """``verify``, except that a good proof that nothing but its own row guards (an SMS code) is not spent
        here: it comes back as a ``StepUpPass`` for the caller's unit of work. A TOTP or PIN proof, which also moves
        the customer's replay guard, is verified and spent as ``verify`` does, and its method returned. Refusals
        are ``verify``'s, with the same writes (attempts, audit).

        ``found``: the challenge as the caller read it, unlocked, with the rest of what it needed (None if it read
        none). Only a pass is decided on it; anything else is decided by ``verify``, which reads it again, locked."""
        ...

    def spend_many(self, tx: Tx, passes: Sequence[StepUpPass], at: int) -> set[int]:
        """Spend each pass whose challenge is still unspent and not out of attempts; the challenge ids spent."""
        ...
