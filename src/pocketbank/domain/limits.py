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

**Currencies.** The table above is in CNY. A transfer in another currency (a USD account paying a USD payee) is
held to that currency's own `LimitSchedule`: the same methods, classes and periods, with amounts in its minor units
(fixed figures in the data file, derived once from a reference rate: the bank has no FX feed to convert at). Its
day, month and year totals are counted separately from the CNY ones. A currency without a schedule is refused
(`LimitsUnavailable`), never unlimited.

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
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo

from pocketbank.domain.channels import AuthMethod
from pocketbank.domain.customers import AccountClass, ClassLimits
from pocketbank.domain.money import CNY, Money
from pocketbank.errors import AssetMismatch, InvalidRulesData, LimitExceeded, LimitsUnavailable

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
    """At most `amount` minor units of `currency` per `period`; `scope` names the rule ("auth:sms", "class:II")."""

    scope: str
    period: LimitPeriod
    amount: int
    currency: str = CNY.code

    def __post_init__(self) -> None:
        if not isinstance(self.scope, str) or not self.scope:
            raise InvalidRulesData("a limit needs a scope", param="scope")
        if not isinstance(self.currency, str) or not self.currency:
            raise InvalidRulesData("a limit needs a currency", param="currency")
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
    """New payees and newly trusted devices: each transfer is capped at `cap` minor units for `window_seconds`."""

    window_seconds: int = 12 * 3600
    cap: int = 500_000

    def __post_init__(self) -> None:
        if type(self.window_seconds) is not int or self.window_seconds < 0:
            raise InvalidRulesData("cooling-off window must be a non-negative int of seconds", param="window_seconds")
        if type(self.cap) is not int or self.cap < 0:
            raise InvalidRulesData("cooling-off cap must be a non-negative int of minor units", param="cap")


@dataclass(frozen=True, slots=True)
class LimitSchedule:
    """One currency's limits, in its minor units: every `AuthMethod`'s, every `AccountClass`'s caps, cooling-off.

    `reference_rate` (CNY per unit) records how the figures of a foreign currency were derived from the CNY ones;
    it is documentation, nothing converts with it. None for CNY itself.
    """

    currency: str
    auth: Mapping[AuthMethod, tuple[Limit, ...]]
    classes: Mapping[AccountClass, ClassLimits]
    cooling_off: CoolingOff = CoolingOff()
    reference_rate: Decimal | None = None

    def __post_init__(self) -> None:
        missing = [m.value for m in AuthMethod if m not in self.auth]
        if missing:
            raise InvalidRulesData(f"no {self.currency} limits for authentication methods {missing}", param="auth")
        missing = [c.name for c in AccountClass if c not in self.classes]
        if missing:
            raise InvalidRulesData(f"no {self.currency} limits for account classes {missing}", param="classes")
        for method, limits in self.auth.items():
            periods = [limit.period for limit in limits]
            if len(set(periods)) != len(periods):
                raise InvalidRulesData(f"{method} has two limits for one period ({self.currency})", param="auth")
            # Amounts of one currency must never be counted against another's allowance.
            if any(limit.currency != self.currency for limit in limits):
                raise InvalidRulesData(f"{method} has a limit in another currency than {self.currency}", param="auth")
        if self.reference_rate is not None and not self.reference_rate > 0:
            raise InvalidRulesData("a reference rate must be positive", param="reference_rate")
        object.__setattr__(self, "auth", MappingProxyType({m: tuple(ls) for m, ls in self.auth.items()}))
        object.__setattr__(self, "classes", MappingProxyType(dict(self.classes)))

    def applicable_limits(
        self, method: AuthMethod, account_class: AccountClass, *, to_own_account: bool
    ) -> list[Limit]:
        """Every limit an outgoing payment must fit: the method's, plus the class's unless it goes to an own account."""
        limits = list(self.auth[method])
        if not to_own_account:
            caps = self.classes[account_class]
            scope = class_scope(account_class)
            if caps.daily_out is not None:
                limits.append(Limit(scope, LimitPeriod.DAY, caps.daily_out, self.currency))
            if caps.yearly_out is not None:
                limits.append(Limit(scope, LimitPeriod.YEAR, caps.yearly_out, self.currency))
        return limits


@dataclass(frozen=True, slots=True)
class LimitPolicy:
    """The CNY limits (`auth`, `classes`, `cooling_off`) and every other currency's schedule; `version` names the set.

    The CNY limits stay plain fields because CNY is the currency every customer holds (and what most callers show);
    `schedule(currency)` gives any currency's, CNY's included.
    """

    version: str
    auth: Mapping[AuthMethod, tuple[Limit, ...]]
    classes: Mapping[AccountClass, ClassLimits]
    cooling_off: CoolingOff = CoolingOff()
    currencies: Mapping[str, LimitSchedule] = field(default_factory=dict)
    schedules: Mapping[str, LimitSchedule] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        cny = LimitSchedule(CNY.code, self.auth, self.classes, self.cooling_off)
        for code, schedule in self.currencies.items():
            if code == CNY.code:
                raise InvalidRulesData("CNY limits are the policy's own, not a foreign schedule", param="currencies")
            if schedule.currency != code:
                raise InvalidRulesData(f"the {code} schedule is in {schedule.currency}", param="currencies")
        object.__setattr__(self, "auth", cny.auth)
        object.__setattr__(self, "classes", cny.classes)
        object.__setattr__(self, "currencies", MappingProxyType(dict(self.currencies)))
        object.__setattr__(self, "schedules", MappingProxyType({CNY.code: cny, **self.currencies}))

    def schedule(self, currency: str) -> LimitSchedule:
        """The limits of payments in `currency`; `LimitsUnavailable` when there are none (never "no limit")."""
        try:
            return self.schedules[currency]
        except KeyError:
            message = f"transfers in {currency} are not available: no limits are set for it"
            raise LimitsUnavailable(message, param="currency") from None

    def class_limits(self, account_class: AccountClass, currency: str = CNY.code) -> ClassLimits:
        return self.schedule(currency).classes[account_class]

    def applicable_limits(
        self, method: AuthMethod, account_class: AccountClass, *, to_own_account: bool, currency: str = CNY.code
    ) -> list[Limit]:
        """Every limit an outgoing payment in `currency` must fit (see `LimitSchedule.applicable_limits`)."""
        return self.schedule(currency).applicable_limits(method, account_class, to_own_account=to_own_account)


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
    """Raise `LimitExceeded` naming the tightest per-transaction limit `amount` is above.

    Every limit must be in the amount's currency (`AssetMismatch` otherwise: comparing 100 USD with a 1,000 CNY limit
    would be meaningless). Day, month and year limits are skipped: they need period totals, which the ledger holds.
    """
    limits = list(limits)
    foreign = next((lim for lim in limits if lim.currency != amount.asset.code), None)
    if foreign is not None:
        raise AssetMismatch(
            f"the {foreign.scope} limit is in {foreign.currency}; use the {amount.asset.code} limits for {amount}",
            param="amount",
        )
    exceeded = [lim for lim in limits if lim.period is LimitPeriod.TRANSACTION and amount.minor > lim.amount]
    if exceeded:
        tightest = min(exceeded, key=lambda lim: lim.amount)
        raise LimitExceeded(
            f"{amount} is above the {Money(tightest.amount, amount.asset)} per-transaction limit ({tightest.scope})",
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


def cooling_off_limit(cap: int | None, currency: str = CNY.code) -> list[Limit]:
    """The cooling-off cap as a per-transaction limit to add to `applicable_limits` (empty when there is none)."""
    return [] if cap is None else [Limit(COOLING_OFF_SCOPE, LimitPeriod.TRANSACTION, cap, currency)]
