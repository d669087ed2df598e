"""Behaviour of transaction limits: the shipped policy, calendar buckets, per-transaction checks, cooling-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pocketbank.domain.channels import AuthMethod
from pocketbank.domain.customers import AccountClass, ClassLimits
from pocketbank.domain.limits import (
    CoolingOff,
    Limit,
    LimitPeriod,
    LimitPolicy,
    check_transaction_limits,
    cooling_off_cap,
    cooling_off_limit,
    period_key,
)
from pocketbank.domain.money import CNY, USD, Money
from pocketbank.errors import AssetMismatch, InvalidRulesData, LimitExceeded
from pocketbank.integrations.rules import limit_policy_from_text, load_limit_policy

POLICY = load_limit_policy()
T = LimitPeriod.TRANSACTION
D = LimitPeriod.DAY
M = LimitPeriod.MONTH
Y = LimitPeriod.YEAR
SHANGHAI = timezone(timedelta(hours=8))
NS = 1_000_000_000


def yuan(whole: int) -> int:
    return whole * 100


def periods(limits: list[Limit]) -> dict[tuple[str, LimitPeriod], int]:
    return {(limit.scope, limit.period): limit.amount for limit in limits}


# --- the shipped policy -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        (AuthMethod.SMS, {T: yuan(10_000), D: yuan(10_000), M: yuan(50_000)}),
        (AuthMethod.TOTP, {T: yuan(200_000), D: yuan(1_000_000)}),
        (AuthMethod.PIN, {T: yuan(1_000), D: yuan(5_000)}),
        (AuthMethod.PASSWORD, {T: yuan(1_000), D: yuan(1_000)}),
        (AuthMethod.STAFF, {}),
    ],
)
def test_limits_by_authentication_method(method: AuthMethod, expected: dict[LimitPeriod, int]) -> None:
    limits = POLICY.applicable_limits(method, AccountClass.I, to_own_account=False)
    assert periods(limits) == {(f"auth:{method.value}", p): amount for p, amount in expected.items()}


@pytest.mark.parametrize(
    ("account_class", "expected"),
    [
        (AccountClass.I, {}),
        (AccountClass.II, {D: yuan(10_000), Y: yuan(200_000)}),
        (AccountClass.III, {D: yuan(2_000), Y: yuan(50_000)}),
    ],
)
def test_class_limits_apply_to_other_peoples_accounts(
    account_class: AccountClass, expected: dict[LimitPeriod, int]
) -> None:
    limits = POLICY.applicable_limits(AuthMethod.STAFF, account_class, to_own_account=False)
    assert periods(limits) == {(f"class:{account_class.name}", p): amount for p, amount in expected.items()}


def test_own_account_transfers_are_not_limited_by_class_but_still_by_auth() -> None:
    limits = POLICY.applicable_limits(AuthMethod.SMS, AccountClass.III, to_own_account=True)
    assert {limit.scope for limit in limits} == {"auth:sms"}


def test_class_iii_balance_cap() -> None:
    assert POLICY.class_limits(AccountClass.III) == ClassLimits(yuan(2_000), yuan(50_000), yuan(2_000))
    assert POLICY.class_limits(AccountClass.II).max_balance is None


def test_default_cooling_off() -> None:
    assert POLICY.cooling_off == CoolingOff(window_seconds=12 * 3600, cap=500_000)


# --- calendar buckets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "period", "key"),
    [
        (datetime(2026, 11, 27, 12, 0, tzinfo=SHANGHAI), D, "2026-11-27"),
        (datetime(2026, 11, 27, 12, 0, tzinfo=SHANGHAI), M, "2026-11"),
        (datetime(2026, 11, 27, 12, 0, tzinfo=SHANGHAI), Y, "2026"),
        # 16:30 UTC is 00:30 the next day in Beijing: the Beijing day counts.
        (datetime(2026, 11, 27, 16, 30, tzinfo=UTC), D, "2026-11-28"),
        (datetime(2026, 11, 27, 15, 59, 59, tzinfo=UTC), D, "2026-11-27"),
        (datetime(2026, 11, 30, 16, 0, tzinfo=UTC), M, "2026-12"),
        (datetime(2026, 12, 31, 16, 0, tzinfo=UTC), Y, "2027"),
        (datetime(2026, 12, 31, 15, 59, tzinfo=UTC), Y, "2026"),
        (datetime(2026, 3, 8, 1, 0, tzinfo=timezone(timedelta(hours=-5))), D, "2026-03-08"),  # 14:00 Beijing
        (datetime(99, 1, 1, 0, 0, tzinfo=SHANGHAI), Y, "0099"),
    ],
)
def test_period_key_is_the_beijing_calendar_bucket(at: datetime, period: LimitPeriod, key: str) -> None:
    assert period_key(period, at) == key


def test_period_key_refuses_naive_datetimes_and_the_transaction_period() -> None:
    with pytest.raises(ValueError, match="aware"):
        period_key(D, datetime(2026, 11, 27, 12, 0))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError):
        period_key(T, datetime(2026, 11, 27, 12, 0, tzinfo=UTC))


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))  # noqa: DTZ001
def test_buckets_nest(at: datetime) -> None:
    day, month, year = (period_key(p, at) for p in (D, M, Y))
    assert day.startswith(month + "-")
    assert month.startswith(year + "-")


# --- per-transaction checks ---------------------------------------------------------------------------------


def test_amount_at_the_limit_passes_and_one_fen_over_fails() -> None:
    limits = POLICY.applicable_limits(AuthMethod.SMS, AccountClass.II, to_own_account=False)
    check_transaction_limits(Money(yuan(10_000), CNY), limits)
    with pytest.raises(LimitExceeded) as info:
        check_transaction_limits(Money(yuan(10_000) + 1, CNY), limits)
    assert info.value.code == "limit_exceeded"
    assert info.value.param == "amount"
    assert info.value.scope == "auth:sms"
    assert info.value.limit == yuan(10_000)


def test_the_tightest_exceeded_limit_is_reported() -> None:
    limits = [
        *POLICY.applicable_limits(AuthMethod.TOTP, AccountClass.I, to_own_account=False),
        *cooling_off_limit(500_000),
    ]
    with pytest.raises(LimitExceeded) as info:
        check_transaction_limits(Money(yuan(300_000), CNY), limits)
    assert (info.value.scope, info.value.limit) == ("cooling_off", 500_000)


def test_period_limits_are_not_checked_per_transaction() -> None:
    # Class III allows 2,000/day; a 5,000 payment is the ledger's to refuse with the running total, not ours.
    limits = POLICY.applicable_limits(AuthMethod.STAFF, AccountClass.III, to_own_account=False)
    check_transaction_limits(Money(yuan(5_000), CNY), limits)


def test_limits_and_amount_must_share_a_currency() -> None:
    cny_limits = POLICY.applicable_limits(AuthMethod.SMS, AccountClass.II, to_own_account=False)
    with pytest.raises(AssetMismatch):
        check_transaction_limits(Money(100, USD), cny_limits)
    with pytest.raises(AssetMismatch):
        check_transaction_limits(Money(100, CNY), cooling_off_limit(500_000, "USD"))
    usd_limits = POLICY.applicable_limits(AuthMethod.SMS, AccountClass.II, to_own_account=False, currency="USD")
    check_transaction_limits(Money(140_000, USD), usd_limits)
    with pytest.raises(LimitExceeded) as info:
        check_transaction_limits(Money(140_001, USD), usd_limits)
    assert (info.value.scope, info.value.limit) == ("auth:sms", 140_000)
    assert "1400.00 USD" in info.value.message


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=10**12))
def test_check_matches_comparison(amount: int, cap: int) -> None:
    limits = [Limit("x", T, cap)]
    if amount <= cap:
        check_transaction_limits(Money(amount, CNY), limits)
    else:
        with pytest.raises(LimitExceeded):
            check_transaction_limits(Money(amount, CNY), limits)


# --- cooling-off --------------------------------------------------------------------------------------------

OFF = CoolingOff()
NOW = 1_800_000_000 * NS
OLD = NOW - 30 * 24 * 3600 * NS


@pytest.mark.parametrize(
    ("payee_added", "device_trusted", "cap"),
    [
        (OLD, OLD, None),  # both long established
        (NOW - 3600 * NS, OLD, 500_000),  # payee added an hour ago
        (OLD, NOW - 3600 * NS, 500_000),  # new device
        (NOW - 12 * 3600 * NS + 1, OLD, 500_000),  # one nanosecond inside the window
        (NOW - 12 * 3600 * NS, OLD, None),  # exactly 12 h: window over
        (NOW + 60 * NS, OLD, 500_000),  # added "in the future" (clock skew): treated as new
    ],
)
def test_cooling_off_cap(payee_added: int, device_trusted: int, cap: int | None) -> None:
    assert cooling_off_cap(payee_added, device_trusted, NOW, OFF) == cap


def test_cooling_off_limit_is_a_per_transaction_limit() -> None:
    assert cooling_off_limit(None) == []
    assert cooling_off_limit(500_000) == [Limit("cooling_off", T, 500_000)]


# --- construction and loading -------------------------------------------------------------------------------


def test_policy_must_cover_every_method_and_class() -> None:
    classes = {c: ClassLimits(None, None, None) for c in AccountClass}
    with pytest.raises(InvalidRulesData, match="authentication methods"):
        LimitPolicy("v", {AuthMethod.SMS: ()}, classes)
    auth: dict[AuthMethod, tuple[Limit, ...]] = {m: () for m in AuthMethod}
    with pytest.raises(InvalidRulesData, match="account classes"):
        LimitPolicy("v", auth, {AccountClass.I: ClassLimits(None, None, None)})
    auth[AuthMethod.SMS] = (Limit("auth:sms", D, 1), Limit("auth:sms", D, 2))
    with pytest.raises(InvalidRulesData, match="two limits"):
        LimitPolicy("v", auth, classes)


@pytest.mark.parametrize(
    ("scope", "period", "amount"), [("", T, 1), ("x", "day", 1), ("x", T, -1), ("x", T, 1.0), ("x", T, True)]
)
def test_malformed_limits_are_refused(scope: str, period: LimitPeriod, amount: int) -> None:
    with pytest.raises(InvalidRulesData):
        Limit(scope, period, amount)


def _shipped_text() -> str:
    from importlib import resources

    return resources.files("pocketbank").joinpath("data", "limits.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("[auth.staff]\n", "", "authentication methods \\['staff'\\]"),
        ("[classes.I]\n", "", "account classes \\['I'\\]"),
        ("[classes.I]\n", "[classes.IV]\n", "unknown account class"),
        ("[auth.pin]", "[auth.fingerprint]", "unknown AuthMethod"),
        ('month = "50000.00"', "month = 50000", "auth.sms.month: use a quoted CNY amount"),
        ('month = "50000.00"', 'week = "50000.00"', "auth.sms.week: unknown key"),
        ("window_seconds = 43200", 'window_seconds = "43200"', "cooling_off.window_seconds: must be an integer"),
        ("window_seconds = 43200", "window_seconds = -1", "cooling-off window"),
        ('daily_out = "2000.00"', 'daily_out = "2000.005"', "classes.III.daily_out"),
    ],
)
def test_loader_reports_malformed_documents_clearly(old: str, new: str, message: str) -> None:
    text = _shipped_text()
    assert old in text
    with pytest.raises(InvalidRulesData, match=message) as info:
        limit_policy_from_text(text.replace(old, new, 1))
    assert str(info.value).startswith("limits.toml")


def test_loader_round_trips_the_shipped_file_and_is_cached() -> None:
    assert limit_policy_from_text(_shipped_text()) == load_limit_policy()
    assert load_limit_policy() is load_limit_policy()
