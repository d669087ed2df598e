"""Plumbing shared by the customer, auth and staff services: their adapters, tokens, codes, rate limits, lockout.

Secrets made here come from ``secrets`` (a CSPRNG): session tokens carry 256 bits, one-time codes are 6 digits
(about 20 bits, ASVS 6.5.x), and both are kept only as SHA-256 digests. A code's digest is salted with its own
row id, so two rows holding the same code do not share a digest.

**Lockout** (``verify_with_lockout``, used by customer and staff logins alike). The 5th consecutive failed password
locks the account for 1 minute; each further failure after a lock runs out doubles it (2, 4, 8 ... minutes, capped
at 1 hour). While locked, the login gets ``account_locked`` (423) with Retry-After and the password is not even
checked. A success resets the count. Back-off rather than a permanent block keeps an attacker from locking someone
out for good (ASVS 6.3.1; PSD2 RTS Art. 4(3)(b) asks for a block after at most 5). Every failure, every lock and
every attempt refused while locked is audited in the account's own stream.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any, Final

from pocketbank.domain.audit import audit_by
from pocketbank.domain.clock import NS_PER_SECOND
from pocketbank.domain.events import DomainEvent
from pocketbank.domain.principals import Principal
from pocketbank.errors import AccountLocked, PocketBankError, RateLimited
from pocketbank.services.auth_ports import (
    AuthStore,
    CustomerStore,
    LoginFailureStore,
    PasswordHasher,
    RateLimiter,
    SecretBox,
    SmsSender,
    StaffStore,
    TxRunner,
)
from pocketbank.services.ports import Tx
from pocketbank.services.unit import UnitDeps

MINUTE: Final = 60 * NS_PER_SECOND
CODE_DIGITS: Final = 6
LOCK_THRESHOLD: Final = 5
LOCK_BASE_SECONDS: Final = 60
LOCK_MAX_SECONDS: Final = 3600


@dataclass(frozen=True, slots=True)
class RateRule:
    limit: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Attempts allowed per window. Per-account rules stop guessing; per-client rules stop spraying many accounts."""

    login_per_phone: RateRule = RateRule(20, 900)  # per account: a customer's number or a staff user name
    login_per_client: RateRule = RateRule(100, 60)
    sms_per_phone: RateRule = RateRule(5, 900)
    sms_per_client: RateRule = RateRule(30, 3600)
    code_checks_per_client: RateRule = RateRule(60, 600)
    challenges_per_customer: RateRule = RateRule(20, 600)
    step_up_checks_per_customer: RateRule = RateRule(30, 3600)
    password_changes_per_customer: RateRule = RateRule(5, 900)


@dataclass
class AuthDeps(UnitDeps):
    """Every adapter the customers & auth services use, built once in ``bootstrap``."""

    uow: TxRunner  # token checks also read outside a unit of work
    customers: CustomerStore
    store: AuthStore
    staff: StaffStore
    sms: SmsSender
    limiter: RateLimiter
    hasher: PasswordHasher
    box: SecretBox  # seals TOTP seeds at rest
    common_passwords: frozenset[str]
    limits: RateLimits = field(default_factory=RateLimits)

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


def lock_seconds(failures: int) -> int:
    """How long an account stays locked after ``failures`` consecutive failures (0: not locked)."""
    if failures < LOCK_THRESHOLD:
        return 0
    return int(min(LOCK_BASE_SECONDS * 2 ** min(failures - LOCK_THRESHOLD, 12), LOCK_MAX_SECONDS))


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """One password login against a known account, read ``for_update`` in the caller's transaction."""

    actor: Principal  # the account owner, for the audit stream
    store: LoginFailureStore  # where this kind of account keeps its failure count
    failed_logins: int
    locked_until: int
    password_hash: str
    refused: PocketBankError  # what a wrong password gets: the same as an unknown account (no enumeration)


def verify_with_lockout(deps: AuthDeps, tx: Tx, out: Outcome, attempt: LoginAttempt, secret: str, now: int) -> bool:
    """The lockout gate and the password check; True on success. A refusal is ``out.refuse``d, so that the failure
    count and the audit records commit with the transaction before it is raised."""
    actor, subject = attempt.actor, attempt.actor.public_id
    if now < attempt.locked_until:
        deps.audit.append(tx, audit_by(actor, "login.refused_locked", subject, now))
        retry = ceil_seconds(attempt.locked_until - now)
        out.refuse(AccountLocked("too many failed logins; try again later", retry_after=retry))
        return False
    if not deps.hasher.verify(attempt.password_hash, secret):
        failures = attempt.failed_logins + 1
        lock = lock_seconds(failures)
        attempt.store.record_login_failure(tx, actor.id, failures, now + lock * NS_PER_SECOND if lock else 0)
        deps.audit.append(tx, audit_by(actor, "login.failed", subject, now, failures=failures))
        if lock:
            deps.audit.append(tx, audit_by(actor, "login.locked", subject, now, failures=failures, seconds=lock))
        out.refuse(attempt.refused)
        return False
    if attempt.failed_logins or attempt.locked_until:
        attempt.store.reset_login_failures(tx, actor.id)
    return True


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
