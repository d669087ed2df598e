"""Plumbing shared by the customer, auth and staff services: their adapters, tokens, codes and rate limits.

Secrets made here come from ``secrets`` (a CSPRNG): session tokens carry 256 bits, one-time codes are 6 digits
(about 20 bits, ASVS 6.5.x), and both are kept only as SHA-256 digests. A code's digest is salted with its own
row id, so two rows holding the same code do not share a digest.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any, Final

from pocketbank.domain.clock import NS_PER_SECOND, Clock
from pocketbank.domain.events import DomainEvent
from pocketbank.domain.ids import IdKind, format_id
from pocketbank.errors import PocketBankError, RateLimited
from pocketbank.services.auth_ports import (
    AuthStore,
    CustomerStore,
    PasswordHasher,
    RateLimiter,
    SmsSender,
    StaffStore,
    TxRunner,
)
from pocketbank.services.ports import AuditLog, EventBus, IdGenerator, Outbox, Tx

MINUTE: Final = 60 * NS_PER_SECOND
CODE_DIGITS: Final = 6


@dataclass(frozen=True, slots=True)
class RateRule:
    limit: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Attempts allowed per window. Per-account rules stop guessing; per-client rules stop spraying many accounts."""

    login_per_phone: RateRule = RateRule(20, 900)
    login_per_client: RateRule = RateRule(100, 60)
    sms_per_phone: RateRule = RateRule(5, 900)
    sms_per_client: RateRule = RateRule(30, 3600)
    code_checks_per_client: RateRule = RateRule(60, 600)
    challenges_per_customer: RateRule = RateRule(20, 600)
    step_up_checks_per_customer: RateRule = RateRule(30, 3600)
    password_changes_per_customer: RateRule = RateRule(5, 900)


@dataclass
class AuthDeps:
    """Every adapter the customers & auth services use, built once in ``bootstrap``."""

    uow: TxRunner
    audit: AuditLog
    outbox: Outbox
    bus: EventBus
    clock: Clock
    ids: IdGenerator
    customers: CustomerStore
    store: AuthStore
    staff: StaffStore
    sms: SmsSender
    limiter: RateLimiter
    hasher: PasswordHasher
    common_passwords: frozenset[str]
    limits: RateLimits = field(default_factory=RateLimits)

    def now(self) -> int:
        return self.clock.now_ns()

    def event(self, type_: str, channel: str, at: int, **data: Any) -> DomainEvent:
        return DomainEvent(format_id(IdKind.EVENT, self.ids.new()), type_, at, channel, data)

    def rate(self, key: str, rule: RateRule, now: int) -> None:
        wait = self.limiter.hit(key, limit=rule.limit, window_seconds=rule.window_seconds, now_ns=now)
        if wait:
            raise RateLimited("too many attempts; try again later", retry_after=wait)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(row_id: int, code: str) -> str:
    return hashlib.sha256(f"{row_id:032x}:{code}".encode()).hexdigest()


def same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def ceil_seconds(ns: int) -> int:
    return max(1, -(-ns // NS_PER_SECOND))


class Outcome:
    """What a unit of work decided: events to publish and a refusal to raise, both only after the commit.

    ``with uow.begin()`` rolls back when its block raises, so a refusal whose writes (an attempt counter, an audit
    record) must persist is recorded with ``refuse`` and raised by ``finish``, after the commit. Events go to the
    outbox inside the transaction (``emit``) and to the in-process bus only once it has committed.
    """

    def __init__(self, deps: AuthDeps) -> None:
        self._deps = deps
        self.error: PocketBankError | None = None
        self.events: list[DomainEvent] = []

    def refuse(self, error: PocketBankError) -> None:
        self.error = error

    def emit(self, tx: Tx, type_: str, channel: str, at: int, **data: Any) -> None:
        event = self._deps.event(type_, channel, at, **data)
        self._deps.outbox.add(tx, event)
        self.events.append(event)

    def finish(self) -> None:
        """Call after the ``with uow.begin()`` block: publish what committed, then raise the refusal if any."""
        if self.events:
            self._deps.bus.publish(self.events)
            self.events = []
        if self.error is not None:
            raise self.error
