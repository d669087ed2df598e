"""Limits: how much may leave an account per transaction, day, month and year.

Two independent sets of limits apply to an outgoing payment, and it must fit all of them:

* **By authentication method** (reference §1.2, ICBC's limits by security medium). The stronger the proof,
  the larger the limit. Mapping of our `AuthMethod`s onto ICBC's media:

  | AuthMethod | ICBC medium                          | per transaction | per day   | per month |
  |------------|--------------------------------------|-----------------|-----------|-----------|
  | password   | no medium (PBoC No. 43 "<2 factors") | 1,000           | 1,000     |           |
  | pin        | e-banking code card, mobile          | 1,000           | 5,000     |           |
  | sms        | SMS one-time code                    | 10,000          | 10,000    | 50,000    |
  | totp       | e-password device (电子密码器)       | 200,000         | 1,000,000 |           |
  | staff      | counter, identity seen in person     | no limit        | no limit  |           |

* **By account class** (reference §1.3, PBoC 2018 rules): class II may send 10,000/day and 200,000/year to
  accounts other than its bound class I account, class III 2,000/day and 50,000/year; class I is
  unlimited. Transfers between the customer's own accounts are not limited by class
  (`to_own_account=True`), but the authentication limits still apply: they protect against a stolen session.

The numbers are configuration (`data/limits.toml`, loaded by `integrations.rules.load_limit_policy`).

**Who enforces what.** `check_transaction_limits` checks the per-transaction caps, which need nothing but the
amount. Day, month and year limits need the running total of the period, so the ledger enforces them
atomically with the debit; this module only names them (`applicable_limits`) and says which calendar
bucket a moment falls in (`period_key`). Buckets are calendar periods in Beijing time (Asia/Shanghai, no
daylight saving since 1991), because that is the day the customer and the regulator count in: a transfer at
2026-11-27T23:30+08:00 and one at 2026-11-28T00:10+08:00 fall on different days even though they are 40 minutes
apart. The caller passes the moment in as an aware datetime; nothing here reads a clock.

**Cooling-off (reference §8, MAS and DBS practice).** For `CoolingOff.window_seconds` (12 h) after a payee is
added, or after a device is first trusted, each transfer is capped at `CoolingOff.cap` (5,000.00 CNY): the
window in which a fraudster who has just taken over an account would empty it. `cooling_off_cap` returns
that cap (or None); the caller adds it as a per-transaction `Limit` with scope `cooling_off`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo

from pocketbank.domain.channels import AuthMethod
from pocketbank.domain.customers import AccountClass, ClassLimits
from pocketbank.domain.money import CNY, Money
from pocketbank.errors import AssetMismatch, InvalidRulesData, LimitExceeded

BANK_TIMEZONE: Final = ZoneInfo("Asia/Shanghai")
COOLING_OFF_SCOPE: Final = "cooling_off"
NS_PER_SECOND: Final = 1_000_000_000


class LimitPeriod(StrEnum):
    TRANSACTION = "transaction"
    DAY = "day"
    MONTH = "month"
    YEAR = "year"


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `amount` CNY minor units per `period`; `scope` names the rule ("auth:sms", "class:II")."""

    scope: str
    period: LimitPeriod
    amount: int

    def __post_init__(self) -> None:
        if not isinstance(self.scope, str) or not self.scope:
            raise InvalidRulesData("a limit needs a scope", param="scope")
        if not isinstance(self.period, LimitPeriod):
            raise InvalidRulesData(f"unknown limit period {self.period!r}", param="period")
        if type(self.amount) is not int or self.amount < 0:
            raise InvalidRulesData(
                f"limit amount must be a non-negative int of fen, got {self.amount!r}", param="amount"
            )


def auth_scope(method: AuthMethod) -> str:
    return f"auth:{method.value}"


def class_scope(account_class: AccountClass) -> str:
    return f"class:{account_class.name}"


@dataclass(frozen=True, slots=True)
class CoolingOff:
    """New payees and newly trusted devices: each transfer is capped at `cap` fen for `window_seconds`."""

    window_seconds: int = 12 * 3600
    cap: int = 500_000

    def __post_init__(self) -> None:
        if type(self.window_seconds) is not int or self.window_seconds < 0:
            raise InvalidRulesData("cooling-off window must be a non-negative int of seconds", param="window_seconds")
        if type(self.cap) is not int or self.cap < 0:
            raise InvalidRulesData("cooling-off cap must be a non-negative int of fen", param="cap")


@dataclass(frozen=True, slots=True)
class LimitPolicy:
    """Limits for every `AuthMethod` and caps for every `AccountClass`; `version` names the rule set."""

    version: str
    auth: Mapping[AuthMethod, tuple[Limit, ...]]
    classes: Mapping[AccountClass, ClassLimits]
    cooling_off: CoolingOff = CoolingOff()

    def __post_init__(self) -> None:
        missing = [m.value for m in AuthMethod if m not in self.auth]
        if missing:
            raise InvalidRulesData(f"no limits for authentication methods {missing}", param="auth")
        missing = [c.name for c in AccountClass if c not in self.classes]
        if missing:
            raise InvalidRulesData(f"no limits for account classes {missing}", param="classes")
        for method, limits in self.auth.items():
            periods = [limit.period for limit in limits]
            if len(set(periods)) != len(periods):
                raise InvalidRulesData(f"{method} has two limits for one period", param="auth")
        object.__setattr__(self, "auth", MappingProxyType({m: tuple(ls) for m, ls in self.auth.items()}))
        object.__setattr__(self, "classes", MappingProxyType(dict(self.classes)))

    def class_limits(self, account_class: AccountClass) -> ClassLimits:
        return self.classes[account_class]

    def applicable_limits(
        self, method: AuthMethod, account_class: AccountClass, *, to_own_account: bool
    ) -> list[Limit]:
        """Every limit an outgoing payment must fit: the method's, plus the class's unless it goes to an own account."""
        limits = list(self.auth[method])
        if not to_own_account:
            caps = self.classes[account_class]
            scope = class_scope(account_class)
            if caps.daily_out is not None:
                limits.append(Limit(scope, LimitPeriod.DAY, caps.daily_out))
            if caps.yearly_out is not None:
                limits.append(Limit(scope, LimitPeriod.YEAR, caps.yearly_out))
        return limits


def period_key(period: LimitPeriod, at: datetime) -> str:
    """The calendar bucket of `at` in Beijing time: "2026-11-27" (day), "2026-11" (month) or "2026" (year)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("period_key needs an aware datetime; a naive one has no calendar day")
    local = at.astimezone(BANK_TIMEZONE)
    if period is LimitPeriod.DAY:
        return f"{local.year:04d}-{local.month:02d}-{local.day:02d}"
    if period is LimitPeriod.MONTH:
        return f"{local.year:04d}-{local.month:02d}"
    if period is LimitPeriod.YEAR:
        return f"{local.year:04d}"
    raise ValueError(f"{period} limits have no calendar bucket")


def check_transaction_limits(amount: Money, limits: Iterable[Limit]) -> None:
    """Raise `LimitExceeded` naming the tightest per-transaction limit `amount` (CNY) is above.

    Day, month and year limits in `limits` are skipped: they need period totals, which the ledger holds.
    """
    if amount.asset != CNY:
        raise AssetMismatch(f"limits are in CNY; check the CNY equivalent of {amount}", param="amount")
    exceeded = [lim for lim in limits if lim.period is LimitPeriod.TRANSACTION and amount.minor > lim.amount]
    if exceeded:
        tightest = min(exceeded, key=lambda lim: lim.amount)
        raise LimitExceeded(
            f"{amount} is above the {Money(tightest.amount, CNY)} per-transaction limit ({tightest.scope})",
            scope=tightest.scope,
            limit=tightest.amount,
        )


def cooling_off_cap(payee_added_at_ns: int, device_trusted_at_ns: int, now_ns: int, policy: CoolingOff) -> int | None:
    """`policy.cap` while the payee or the device is newer than the window, else None.

    A time in the future (clock skew between services) counts as new: the cautious reading.
    """
    window_ns = policy.window_seconds * NS_PER_SECOND
    if now_ns - payee_added_at_ns < window_ns or now_ns - device_trusted_at_ns < window_ns:
        return policy.cap
    return None


def cooling_off_limit(cap: int | None) -> list[Limit]:
    """The cooling-off cap as a per-transaction limit to add to `applicable_limits` (empty when there is none)."""
    return [] if cap is None else [Limit(COOLING_OFF_SCOPE, LimitPeriod.TRANSACTION, cap)]
