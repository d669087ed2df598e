"""Limits in currencies other than CNY: the shipped schedules, their derivation, per-currency ids, the loader."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from importlib import resources

import pytest

from pocketbank.domain.accounts import LIMIT_LEDGER, derive_id, limit_account_id, limit_ledger
from pocketbank.domain.channels import AuthMethod
from pocketbank.domain.customers import AccountClass
from pocketbank.domain.limits import Limit, LimitPeriod
from pocketbank.domain.money import CNY, USD, default_registry
from pocketbank.errors import InvalidRulesData, LimitsUnavailable
from pocketbank.integrations.rules import limit_policy_from_text, load_limit_policy

POLICY = load_limit_policy()
T = LimitPeriod.TRANSACTION
D = LimitPeriod.DAY


def periods(limits: list[Limit]) -> dict[tuple[str, LimitPeriod], int]:
    return {(limit.scope, limit.period): limit.amount for limit in limits}


def _shipped_text() -> str:
    return resources.files("pocketbank").joinpath("data", "limits.toml").read_text(encoding="utf-8")


def test_every_currency_an_account_can_hold_has_a_schedule() -> None:
    from pocketbank.services.accounts import ACCOUNT_CURRENCIES

    assert set(POLICY.schedules) == set(ACCOUNT_CURRENCIES)
    for code, schedule in POLICY.schedules.items():
        assert schedule.currency == code
        assert schedule.cooling_off.window_seconds == POLICY.cooling_off.window_seconds


def test_cny_schedule_is_the_policys_own_limits() -> None:
    cny = POLICY.schedule("CNY")
    assert (cny.auth, cny.classes, cny.cooling_off) == (POLICY.auth, POLICY.classes, POLICY.cooling_off)
    assert cny.reference_rate is None


@pytest.mark.parametrize(
    ("currency", "sms", "totp_day", "class_ii_day", "cooling_cap"),
    [
        ("USD", 140_000, 14_000_000, 140_000, 70_000),
        ("EUR", 120_000, 12_000_000, 120_000, 60_000),
        ("HKD", 1_000_000, 100_000_000, 1_000_000, 500_000),
        ("GBP", 100_000, 10_000_000, 100_000, 50_000),
        ("JPY", 210_000, 21_000_000, 210_000, 105_000),  # whole yen
    ],
)
def test_foreign_schedules_are_in_their_own_minor_units(
    currency: str, sms: int, totp_day: int, class_ii_day: int, cooling_cap: int
) -> None:
    sms_limits = periods(POLICY.applicable_limits(AuthMethod.SMS, AccountClass.II, to_own_account=False,
                                                  currency=currency))  # fmt: skip
    assert sms_limits[("auth:sms", T)] == sms
    assert sms_limits[("class:II", D)] == class_ii_day
    totp = periods(POLICY.applicable_limits(AuthMethod.TOTP, AccountClass.I, to_own_account=False, currency=currency))
    assert totp[("auth:totp", D)] == totp_day
    assert POLICY.schedule(currency).cooling_off.cap == cooling_cap
    limits = POLICY.applicable_limits(AuthMethod.PIN, AccountClass.III, to_own_account=False, currency=currency)
    assert {limit.currency for limit in limits} == {currency}


def _cny_value(minor: int, currency: str, rate: Decimal) -> Decimal:
    """What `minor` units of `currency` are worth in fen at `rate` (CNY per unit)."""
    scale = default_registry().get(currency).scale
    return Decimal(minor) / (Decimal(10) ** scale) * rate * 100


@pytest.mark.parametrize("currency", ["USD", "EUR", "HKD", "GBP", "JPY"])
def test_foreign_figures_are_the_cny_ones_at_the_reference_rate_rounded_down(currency: str) -> None:
    """Same limits as in CNY (none added, none dropped), each worth 90-100% of its CNY counterpart: never more."""
    schedule = POLICY.schedule(currency)
    rate = schedule.reference_rate
    assert rate is not None and rate > 0

    def close_below(foreign: int | None, cny: int | None) -> None:
        assert (foreign is None) == (cny is None)
        if foreign is not None and cny is not None:
            value = _cny_value(foreign, currency, rate)
            assert Decimal(cny) * Decimal("0.9") <= value <= cny, (currency, foreign, cny)

    for method in AuthMethod:
        cny = {limit.period: limit.amount for limit in POLICY.auth[method]}
        foreign = {limit.period: limit.amount for limit in schedule.auth[method]}
        assert foreign.keys() == cny.keys(), method
        for period, amount in cny.items():
            close_below(foreign[period], amount)
    for account_class in AccountClass:
        cny_caps, caps = POLICY.class_limits(account_class), schedule.classes[account_class]
        for name in ("daily_out", "yearly_out", "max_balance"):
            close_below(getattr(caps, name), getattr(cny_caps, name))
    close_below(schedule.cooling_off.cap, POLICY.cooling_off.cap)


def test_a_currency_without_a_schedule_is_refused_not_unlimited() -> None:
    with pytest.raises(LimitsUnavailable) as info:
        POLICY.schedule("CHF")
    assert (info.value.code, info.value.param) == ("limits_unavailable", "currency")
    with pytest.raises(LimitsUnavailable):
        POLICY.applicable_limits(AuthMethod.STAFF, AccountClass.I, to_own_account=True, currency="CHF")
    without_usd = replace(POLICY, currencies={k: v for k, v in POLICY.currencies.items() if k != "USD"})
    with pytest.raises(LimitsUnavailable):
        without_usd.schedule("USD")
    assert without_usd.schedule("EUR") == POLICY.schedule("EUR")


def test_schedule_construction_is_checked() -> None:
    usd = POLICY.schedule("USD")
    with pytest.raises(InvalidRulesData, match="not a foreign schedule"):
        replace(POLICY, currencies={"CNY": POLICY.schedule("CNY")})
    with pytest.raises(InvalidRulesData, match="is in USD"):
        replace(POLICY, currencies={"EUR": usd})
    auth = dict(usd.auth)
    auth[AuthMethod.SMS] = (Limit("auth:sms", D, 1),)  # a CNY limit in the USD schedule
    with pytest.raises(InvalidRulesData, match="another currency"):
        replace(usd, auth=auth)
    with pytest.raises(InvalidRulesData, match="positive"):
        replace(usd, reference_rate=Decimal(0))


def test_allowances_and_limit_ledgers_are_per_currency() -> None:
    # CNY keeps the ids it had before limits had currencies (existing allowances hold existing data).
    assert limit_account_id(42, "auth:sms", "2026-01-01") == derive_id("limit", 42, "auth:sms", "2026-01-01")
    assert limit_account_id(42, "auth:sms", "2026-01-01", "CNY") == limit_account_id(42, "auth:sms", "2026-01-01")
    ids = {limit_account_id(42, "auth:sms", "2026-01-01", c) for c in ("CNY", "USD", "EUR", "HKD", "GBP", "JPY")}
    assert len(ids) == 6
    assert limit_ledger(CNY.ledger) == LIMIT_LEDGER == 9_000_156
    assert limit_ledger(USD.ledger) == 9_000_840
    with pytest.raises(ValueError):
        limit_ledger(1000)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("[currencies.USD]", "[currencies.XYZ]", "currencies.XYZ: unknown currency"),
        ("[currencies.USD]", "[currencies.XAU]", "currencies.XAU: not a foreign currency"),
        ("[currencies.USD]", "[currencies.CNY]", "currencies.CNY: not a foreign currency"),
        (
            'auth.staff = {}\nclasses.I = {}\nclasses.II = { daily_out = "1400.00"',
            'classes.I = {}\nclasses.II = { daily_out = "1400.00"',
            "currencies.USD: no USD limits for authentication methods \\['staff'\\]",
        ),
        ('reference_rate = "7.1137"\n', "", "currencies.USD.reference_rate: missing"),
        ('reference_rate = "7.1137"', 'reference_rate = "0"', "currencies.USD.reference_rate: must be positive"),
        ('cooling_off_cap = "700.00"\n', "", "currencies.USD.cooling_off_cap: missing"),
        ('cooling_off_cap = "105000"', 'cooling_off_cap = "105000.5"', "currencies.JPY.cooling_off_cap"),
        ('transaction = "1400.00"', "transaction = 1400", "currencies.USD.auth.sms.transaction: use a quoted USD"),
        ('transaction = "21000"', 'transaction = "21000.00"', "currencies.JPY.auth.password.transaction"),
        ("[currencies.USD]\n", '[currencies.USD]\nweekly = "1.00"\n', "currencies.USD.weekly: unknown key"),
    ],
)
def test_loader_reports_malformed_currency_schedules_clearly(old: str, new: str, message: str) -> None:
    text = _shipped_text()
    assert old in text
    with pytest.raises(InvalidRulesData, match=message) as info:
        limit_policy_from_text(text.replace(old, new, 1))
    assert str(info.value).startswith("limits.toml: ")
    assert not str(info.value).startswith("limits.toml: limits.toml")


def test_a_document_without_currencies_limits_only_cny() -> None:
    text = _shipped_text()
    policy = limit_policy_from_text(text[: text.index("\n[currencies.")])
    assert list(policy.schedules) == ["CNY"]
    with pytest.raises(LimitsUnavailable):
        policy.schedule("USD")
