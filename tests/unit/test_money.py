"""Behaviour of money: assets, strict parsing, exact arithmetic, allocation, rounding and formatting."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pocketbank.domain.money import (
    BUILTIN_ASSETS,
    CNY,
    JPY,
    MAX_MINOR,
    USD,
    XAU,
    Asset,
    AssetKind,
    AssetRegistry,
    Money,
    Rounding,
    default_registry,
    fund_shares,
)
from pocketbank.errors import (
    AmountOverflow,
    AssetConflict,
    AssetMismatch,
    InvalidAmount,
    InvalidAsset,
    PocketBankError,
    TooManyDecimals,
    UnknownAsset,
    UnsupportedLocale,
)

FUND = fund_shares("FUND-000001", 100001)

minors = st.integers(min_value=-MAX_MINOR, max_value=MAX_MINOR)
assets = st.sampled_from([*BUILTIN_ASSETS, FUND])


# --- registry -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "ledger", "scale", "kind"),
    [
        ("CNY", 156, 2, AssetKind.CURRENCY),
        ("USD", 840, 2, AssetKind.CURRENCY),
        ("EUR", 978, 2, AssetKind.CURRENCY),
        ("HKD", 344, 2, AssetKind.CURRENCY),
        ("GBP", 826, 2, AssetKind.CURRENCY),
        ("JPY", 392, 0, AssetKind.CURRENCY),
        ("AUD", 36, 2, AssetKind.CURRENCY),
        ("CAD", 124, 2, AssetKind.CURRENCY),
        ("SGD", 702, 2, AssetKind.CURRENCY),
        ("CHF", 756, 2, AssetKind.CURRENCY),
        ("XAU", 959, 4, AssetKind.METAL),
        ("XAG", 961, 4, AssetKind.METAL),
        ("XPT", 962, 4, AssetKind.METAL),
    ],
)
def test_builtin_assets_by_code_and_ledger(code: str, ledger: int, scale: int, kind: AssetKind) -> None:
    registry = default_registry()
    asset = registry.get(code)
    assert asset == Asset(code, ledger, scale, kind)
    assert registry.by_ledger(ledger) is asset
    assert code in registry
    assert asset in registry


def test_registry_holds_exactly_the_builtins() -> None:
    assert default_registry().all() == BUILTIN_ASSETS


def test_unknown_code_and_ledger_raise_unknown_asset() -> None:
    registry = default_registry()
    with pytest.raises(UnknownAsset) as info:
        registry.get("XYZ")
    assert info.value.code == "unknown_asset"
    with pytest.raises(UnknownAsset):
        registry.get("cny")
    with pytest.raises(UnknownAsset):
        registry.by_ledger(1)
    assert "XYZ" not in registry
    assert 156 not in registry


def test_default_registry_is_fresh_each_call() -> None:
    first = default_registry()
    first.register(FUND)
    assert FUND in first
    assert FUND not in default_registry()
    assert "FUND-000001" not in default_registry()


def test_register_fund_then_look_it_up() -> None:
    registry = default_registry()
    assert registry.register(FUND) is FUND
    assert registry.get("FUND-000001") is FUND
    assert registry.by_ledger(100001) is FUND
    assert FUND.scale == 2
    assert FUND.kind is AssetKind.FUND
    assert registry.all()[-1] is FUND


def test_a_registry_can_be_built_from_any_assets() -> None:
    registry = AssetRegistry([CNY, FUND])
    assert registry.all() == (CNY, FUND)
    assert "USD" not in registry
    with pytest.raises(AssetConflict):
        AssetRegistry([FUND, fund_shares("FUND-000002", FUND.ledger)])


def test_registering_an_identical_asset_is_a_no_op() -> None:
    registry = default_registry()
    registry.register(FUND)
    registry.register(fund_shares("FUND-000001", 100001))
    registry.register(Asset("CNY", 156, 2, AssetKind.CURRENCY))
    assert len(registry.all()) == len(BUILTIN_ASSETS) + 1


@pytest.mark.parametrize(
    "clash",
    [
        fund_shares("FUND-000001", 100002),  # same code, other ledger
        fund_shares("FUND-000002", 100001),  # other code, same ledger
        fund_shares("FUND-000003", 156),  # ledger of a built-in currency
        Asset("CNY", 156, 4, AssetKind.CURRENCY),  # same code and ledger, other scale
        Asset("CNY", 157, 2, AssetKind.CURRENCY),
    ],
)
def test_registering_a_different_asset_on_a_taken_code_or_ledger_raises(clash: Asset) -> None:
    registry = default_registry()
    registry.register(FUND)
    with pytest.raises(AssetConflict) as info:
        registry.register(clash)
    assert info.value.code == "asset_conflict"
    assert clash not in registry


@pytest.mark.parametrize(
    ("code", "ledger", "scale"),
    [
        ("FU", 1, 2),  # too short
        ("FUND-0000000000001", 1, 2),  # 18 chars, too long
        ("fund-000001", 1, 2),  # lowercase
        ("FUND 000001", 1, 2),
        ("FUND_000001", 1, 2),
        ("FUND-000001", 0, 2),
        ("FUND-000001", -1, 2),
        ("FUND-000001", 1, -1),
        ("FUND-000001", 1, 19),
    ],
)
def test_malformed_assets_are_refused(code: str, ledger: int, scale: int) -> None:
    with pytest.raises(InvalidAsset):
        Asset(code, ledger, scale, AssetKind.FUND)


def test_asset_codes_at_the_length_limits_are_accepted() -> None:
    assert Asset("ABC", 1, 2, AssetKind.FUND).code == "ABC"
    assert Asset("FUND-00000000001", 1, 2, AssetKind.FUND).code == "FUND-00000000001"


# --- construction -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("minor", [True, 1.0, Decimal(1), "1", None])
def test_minor_must_be_a_plain_int(minor: object) -> None:
    with pytest.raises(InvalidAmount) as info:
        Money(minor, CNY)  # type: ignore[arg-type]
    assert info.value.code == "invalid_amount"


def test_minor_is_bounded_by_signed_64_bits_symmetrically() -> None:
    assert Money(MAX_MINOR, CNY).minor == 2**63 - 1
    assert Money(-MAX_MINOR, CNY).minor == -(2**63 - 1)
    for minor in (MAX_MINOR + 1, -MAX_MINOR - 1):
        with pytest.raises(AmountOverflow) as info:
            Money(minor, CNY)
        assert info.value.code == "amount_overflow"


def test_error_hierarchy() -> None:
    assert issubclass(TooManyDecimals, InvalidAmount)
    assert issubclass(AmountOverflow, InvalidAmount)
    assert issubclass(UnsupportedLocale, ValueError)
    assert issubclass(UnsupportedLocale, PocketBankError)
    assert TooManyDecimals.code == "amount_too_precise"
    assert AssetMismatch.code == "asset_mismatch"


# --- parsing ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "asset", "minor"),
    [
        ("0", CNY, 0),
        ("1", CNY, 100),
        ("12.34", CNY, 1234),
        ("0.50", CNY, 50),
        ("0.5", CNY, 50),
        ("-0.01", CNY, -1),
        ("-0", CNY, 0),
        ("007.10", CNY, 710),
        ("1234", JPY, 1234),
        ("-5", JPY, -5),
        ("1.2345", XAU, 12345),
        ("10.5", FUND, 1050),
        ("92233720368547758.07", CNY, MAX_MINOR),
        ("-92233720368547758.07", CNY, -MAX_MINOR),
        ("9223372036854775807", JPY, MAX_MINOR),
    ],
)
def test_parse_accepts_plain_decimals(text: str, asset: Asset, minor: int) -> None:
    assert Money.parse(text, asset) == Money(minor, asset)


@pytest.mark.parametrize(
    ("text", "asset", "error"),
    [
        ("1.234", CNY, TooManyDecimals),
        ("1.230", CNY, TooManyDecimals),  # trailing zeros beyond the scale are still too precise
        ("1.5", JPY, TooManyDecimals),
        ("1.0", JPY, TooManyDecimals),
        ("1.00001", XAU, TooManyDecimals),
        ("1e3", CNY, InvalidAmount),
        ("1E3", CNY, InvalidAmount),
        (" 1", CNY, InvalidAmount),
        ("1 ", CNY, InvalidAmount),
        ("1\n", CNY, InvalidAmount),
        ("+1", CNY, InvalidAmount),
        ("NaN", CNY, InvalidAmount),
        ("Infinity", CNY, InvalidAmount),
        ("-Infinity", CNY, InvalidAmount),
        ("1,000", CNY, InvalidAmount),
        ("1_000", CNY, InvalidAmount),
        ("", CNY, InvalidAmount),
        ("-", CNY, InvalidAmount),
        (".5", CNY, InvalidAmount),
        ("5.", CNY, InvalidAmount),
        ("--1", CNY, InvalidAmount),
        ("1.2.3", CNY, InvalidAmount),
        ("١٢", CNY, InvalidAmount),  # Arabic-Indic digits
        ("１２", CNY, InvalidAmount),  # full-width digits
        ("92233720368547758.08", CNY, AmountOverflow),
        ("-92233720368547758.08", CNY, AmountOverflow),
        ("9" * 5000, CNY, AmountOverflow),
    ],
)
def test_parse_refuses(text: str, asset: Asset, error: type[InvalidAmount]) -> None:
    with pytest.raises(error) as info:
        Money.parse(text, asset)
    assert type(info.value) is error
    assert info.value.param == "amount"


def test_parse_refuses_non_strings() -> None:
    with pytest.raises(InvalidAmount):
        Money.parse(1.5, CNY)  # type: ignore[arg-type]


@given(minor=minors, asset=assets)
def test_plain_text_round_trips_through_parse(minor: int, asset: Asset) -> None:
    money = Money(minor, asset)
    assert Money.parse(money.plain(), asset) == money
    assert str(money) == f"{money.plain()} {asset.code}"


@given(minor=minors, asset=assets)
def test_to_decimal_is_exact(minor: int, asset: Asset) -> None:
    value = Money(minor, asset).to_decimal()
    assert value.as_tuple().exponent == -asset.scale
    assert Money.from_decimal(value, asset, Rounding.DOWN) == Money(minor, asset)
    assert Fraction(value) == Fraction(minor, 10**asset.scale)


def test_str_is_plain_and_locale_free() -> None:
    assert str(Money(1234, CNY)) == "12.34 CNY"
    assert str(Money(-5, CNY)) == "-0.05 CNY"
    assert str(Money(1234, JPY)) == "1234 JPY"
    assert str(Money(0, XAU)) == "0.0000 XAU"
    assert Money(100, CNY).to_decimal() == Decimal("1.00")


# --- arithmetic ---------------------------------------------------------------------------------------------


def test_arithmetic_within_one_asset() -> None:
    a, b = Money(1234, CNY), Money(66, CNY)
    assert a + b == Money(1300, CNY)
    assert a - b == Money(1168, CNY)
    assert b - a == Money(-1168, CNY)
    assert -a == Money(-1234, CNY)
    assert a * 3 == Money(3702, CNY)
    assert 3 * a == Money(3702, CNY)
    assert a * -1 == -a
    assert b < a
    assert b <= a
    assert a > b
    assert a >= a
    assert sorted([a, b]) == [b, a]
    assert Money.zero(CNY).is_zero()
    assert a.is_positive()
    assert not a.is_zero()
    assert (-a).is_negative()
    assert not (-a).is_positive()


def test_equality_across_assets_is_false_not_an_error() -> None:
    assert Money(100, CNY) != Money(100, USD)
    assert Money(100, CNY) == Money(100, CNY)
    assert len({Money(100, CNY), Money(100, CNY), Money(100, USD)}) == 2


@pytest.mark.parametrize(
    "operation",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
)
def test_mixing_assets_raises_asset_mismatch(operation: object) -> None:
    with pytest.raises(AssetMismatch):
        operation(Money(100, CNY), Money(100, USD))  # type: ignore[operator]


def test_assets_with_the_same_code_but_different_definition_do_not_mix() -> None:
    with pytest.raises(AssetMismatch):
        Money(1, FUND) + Money(1, fund_shares("FUND-000001", 999999))


@pytest.mark.parametrize("factor", [1.5, 2.0, Decimal(2), True, "2"])
def test_multiplying_by_anything_but_an_int_is_refused(factor: Any) -> None:
    with pytest.raises(TypeError):
        Money(100, CNY) * factor
    with pytest.raises(TypeError):
        factor * Money(100, CNY)


def test_adding_a_plain_number_is_refused() -> None:
    with pytest.raises(TypeError):
        Money(100, CNY) + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money(100, CNY) < 1  # noqa: B015


def test_arithmetic_overflow_raises() -> None:
    top = Money(MAX_MINOR, CNY)
    with pytest.raises(AmountOverflow):
        top + Money(1, CNY)
    with pytest.raises(AmountOverflow):
        -top - Money(1, CNY)
    with pytest.raises(AmountOverflow):
        top * 2
    negated = -top
    assert -negated == top


# --- rounding -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "asset", "rounding", "minor"),
    [
        ("0.125", CNY, Rounding.HALF_UP, 13),
        ("0.125", CNY, Rounding.DOWN, 12),
        ("0.125", CNY, Rounding.HALF_EVEN, 12),
        ("0.135", CNY, Rounding.HALF_EVEN, 14),
        ("-0.125", CNY, Rounding.HALF_UP, -13),  # ties away from zero, symmetric
        ("-0.125", CNY, Rounding.DOWN, -12),  # toward zero, not toward minus infinity
        ("-0.125", CNY, Rounding.HALF_EVEN, -12),
        ("0.129", CNY, Rounding.DOWN, 12),
        ("1.23456789", XAU, Rounding.DOWN, 12345),
        ("1.23456789", XAU, Rounding.HALF_UP, 12346),
        ("1234.5", JPY, Rounding.HALF_UP, 1235),
        ("1234.5", JPY, Rounding.HALF_EVEN, 1234),
        ("10.999", FUND, Rounding.DOWN, 1099),
        ("1E+3", CNY, Rounding.DOWN, 100000),
        ("0E+999999", CNY, Rounding.DOWN, 0),
        ("1E-999999", CNY, Rounding.HALF_UP, 0),
        # Rounded once, exactly: a long tail just under the tie must not be rounded up first.
        ("0.12" + "4" + "9" * 80, CNY, Rounding.HALF_UP, 12),
        ("92233720368547758.07", CNY, Rounding.DOWN, MAX_MINOR),
    ],
)
def test_from_decimal_rounds_by_the_named_rule(value: str, asset: Asset, rounding: Rounding, minor: int) -> None:
    assert Money.from_decimal(Decimal(value), asset, rounding) == Money(minor, asset)


@pytest.mark.parametrize("value", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_from_decimal_refuses_non_finite(value: str) -> None:
    with pytest.raises(InvalidAmount):
        Money.from_decimal(Decimal(value), CNY, Rounding.HALF_UP)


@pytest.mark.parametrize("value", ["92233720368547758.08", "1E+30", "-1E+999999"])
def test_from_decimal_overflow(value: str) -> None:
    with pytest.raises(AmountOverflow):
        Money.from_decimal(Decimal(value), CNY, Rounding.DOWN)


def test_from_decimal_refuses_floats_and_unnamed_rounding() -> None:
    with pytest.raises(InvalidAmount):
        Money.from_decimal(0.1, CNY, Rounding.DOWN)  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount):
        Money.from_decimal(Decimal("0.1"), CNY, "ROUND_DOWN")  # type: ignore[arg-type]


# --- allocation ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "ratios", "parts"),
    [
        (100, [1, 1, 1], [34, 33, 33]),
        (-100, [1, 1, 1], [-34, -33, -33]),
        (5, [1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]),
        (100, [70, 30], [70, 30]),
        (100, [1, 0, 2], [33, 0, 67]),
        (1, [1, 2], [0, 1]),  # the larger fractional remainder wins, not the earlier part
        (0, [3, 7], [0, 0]),
        (MAX_MINOR, [1, 1], [MAX_MINOR // 2 + 1, MAX_MINOR // 2]),
    ],
)
def test_allocate_examples(minor: int, ratios: list[int], parts: list[int]) -> None:
    assert Money(minor, CNY).allocate(ratios) == [Money(p, CNY) for p in parts]


@pytest.mark.parametrize("ratios", [[], [0, 0], [1, -1], [1.5, 1], [True, 1]])
def test_allocate_refuses_bad_ratios(ratios: list[int]) -> None:
    with pytest.raises(ValueError, match="ratio"):
        Money(100, CNY).allocate(ratios)


@pytest.mark.parametrize("n", [0, -1, True])
def test_split_refuses_bad_counts(n: int) -> None:
    with pytest.raises(ValueError, match="parts"):
        Money(100, CNY).split(n)


ratio_lists = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=20).filter(
    lambda rs: sum(rs) > 0
)


@given(minor=minors, ratios=ratio_lists)
def test_allocation_preserves_the_sum_and_stays_within_one_unit(minor: int, ratios: list[int]) -> None:
    parts = Money(minor, CNY).allocate(ratios)
    assert len(parts) == len(ratios)
    assert sum(p.minor for p in parts) == minor
    assert all(p.asset == CNY for p in parts)
    total = sum(ratios)
    for part, ratio in zip(parts, ratios, strict=True):
        exact = Fraction(minor * ratio, total)
        assert abs(part.minor - exact) < 1
        if ratio == 0:
            assert part.is_zero()


@given(minor=minors, ratios=ratio_lists)
def test_allocation_of_a_debit_mirrors_the_credit(minor: int, ratios: list[int]) -> None:
    assert Money(-minor, CNY).allocate(ratios) == [-p for p in Money(minor, CNY).allocate(ratios)]


@given(minor=minors, n=st.integers(min_value=1, max_value=50))
def test_split_is_even_with_the_extra_units_on_the_earlier_parts(minor: int, n: int) -> None:
    parts = [p.minor for p in Money(abs(minor), CNY).split(n)]
    assert sum(parts) == abs(minor)
    assert max(parts) - min(parts) <= 1
    assert parts == sorted(parts, reverse=True)


@given(minor=minors, ratios=ratio_lists)
def test_allocation_is_deterministic_and_follows_ratio_order(minor: int, ratios: list[int]) -> None:
    money = Money(minor, CNY)
    assert money.allocate(ratios) == money.allocate(list(ratios))
    # Appending a zero ratio adds a zero part and leaves the others untouched.
    assert money.allocate([*ratios, 0]) == [*money.allocate(ratios), Money(0, CNY)]


# --- formatting ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("money", "en", "zh_cn"),
    [
        (Money(123456, CNY), "CN¥1,234.56", "¥1,234.56"),
        (Money(-5, CNY), "-CN¥0.05", "-¥0.05"),
        (Money(0, CNY), "CN¥0.00", "¥0.00"),
        (Money(123456, USD), "$1,234.56", "US$1,234.56"),
        (Money(123456, JPY), "¥123,456", "JP¥123,456"),
        (Money(MAX_MINOR, CNY), "CN¥92,233,720,368,547,758.07", "¥92,233,720,368,547,758.07"),
        (Money(123456, XAU), "12.3456 g", "12.3456 g"),
        (Money(-5, XAU), "-0.0005 g", "-0.0005 g"),
        (Money(100, XAU), "0.0100 g", "0.0100 g"),
        (Money(123456, FUND), "1,234.56 shares", "1,234.56 份"),
        (Money(1000, FUND), "10.00 shares", "10.00 份"),
    ],
)
def test_format_in_both_locales(money: Money, en: str, zh_cn: str) -> None:
    assert money.format() == en
    assert money.format("en") == en
    assert money.format("zh_CN") == zh_cn


@pytest.mark.parametrize("locale", ["fr", "zh-CN", "zh", "", "EN"])
def test_format_refuses_unsupported_locales(locale: str) -> None:
    with pytest.raises(UnsupportedLocale) as info:
        Money(100, CNY).format(locale)
    assert info.value.code == "unsupported_locale"
    assert info.value.param == "locale"
