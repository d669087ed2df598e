"""Behaviour of fee schedules: the shipped tariff, channel multipliers, waivers and the loader's checks."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pocketbank.domain.channels import Channel
from pocketbank.domain.money import CNY, USD, Money
from pocketbank.domain.pricing import FeeRule, FeeSchedule, Product
from pocketbank.errors import AssetMismatch, InvalidAmount, InvalidRulesData, PricingUnavailable
from pocketbank.integrations.rules import fee_schedule_from_text, load_fee_schedule

SCHEDULE = load_fee_schedule()


def cny(text: str) -> Money:
    return Money.parse(text, CNY)


# Amounts up to 100 million CNY, in fen.
amounts = st.integers(min_value=1, max_value=10_000_000_000).map(lambda m: Money(m, CNY))
channels = st.sampled_from(list(Channel))


# --- the shipped tariff, exact values -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("product", "channel", "amount", "fee"),
    [
        # Interbank, counter: 1%, min 1.00, max 50.00 (reference 1.1).
        (Product.INTERBANK_TRANSFER, Channel.COUNTER, "5000.00", "50.00"),
        (Product.INTERBANK_TRANSFER, Channel.COUNTER, "50.00", "1.00"),  # the minimum
        (Product.INTERBANK_TRANSFER, Channel.COUNTER, "0.01", "1.00"),
        (Product.INTERBANK_TRANSFER, Channel.COUNTER, "1234.56", "12.35"),  # 12.3456 -> HALF_UP
        (Product.INTERBANK_TRANSFER, Channel.COUNTER, "1234.50", "12.35"),  # 12.345 tie -> up
        (Product.INTERBANK_TRANSFER, Channel.COUNTER, "1234.49", "12.34"),
        (Product.INTERBANK_TRANSFER, Channel.COUNTER, "1000000.00", "50.00"),  # the maximum
        # Online: half the counter tariff, 0.5%, min 0.50, max 25.00.
        (Product.INTERBANK_TRANSFER, Channel.ONLINE, "5000.00", "25.00"),
        (Product.INTERBANK_TRANSFER, Channel.ONLINE, "50.00", "0.50"),
        (Product.INTERBANK_TRANSFER, Channel.ONLINE, "2000.00", "10.00"),
        (Product.INTERBANK_TRANSFER, Channel.OPEN_API, "5000.00", "25.00"),
        # ATM: counter +20%, 1.2%, min 1.20, max 60.00.
        (Product.INTERBANK_TRANSFER, Channel.ATM, "1000.00", "12.00"),
        (Product.INTERBANK_TRANSFER, Channel.ATM, "50.00", "1.20"),
        (Product.INTERBANK_TRANSFER, Channel.ATM, "10000.00", "60.00"),
        # Mobile: free.
        (Product.INTERBANK_TRANSFER, Channel.MOBILE, "5000.00", "0.00"),
        # Same bank: free everywhere (PBoC No. 261).
        (Product.INTRA_BANK_TRANSFER, Channel.COUNTER, "5000.00", "0.00"),
        (Product.INTRA_BANK_TRANSFER, Channel.ATM, "5000.00", "0.00"),
        # Remittance, counter: 0.1% min 50 max 260 + 150 cable (reference 2.2).
        (Product.REMITTANCE, Channel.COUNTER, "10000.00", "200.00"),  # min 50 + 150
        (Product.REMITTANCE, Channel.COUNTER, "100000.00", "250.00"),  # 100 + 150
        (Product.REMITTANCE, Channel.COUNTER, "1000000.00", "410.00"),  # max 260 + 150
        (Product.REMITTANCE, Channel.ONLINE, "100000.00", "125.00"),  # 50 + 75
        (Product.REMITTANCE, Channel.MOBILE, "100000.00", "0.00"),
    ],
)
def test_shipped_fees(product: Product, channel: Channel, amount: str, fee: str) -> None:
    assert SCHEDULE.quote(product, channel, cny(amount)).fee == cny(fee)


def test_mobile_interbank_is_waived_and_says_so() -> None:
    quote = SCHEDULE.quote(Product.INTERBANK_TRANSFER, Channel.MOBILE, cny("5000.00"))
    assert quote.fee == cny("0.00")
    assert quote.waived is True
    assert quote.counter_fee == cny("50.00")
    assert quote.waiver_reason == "free on mobile (50.00 CNY at the counter)"
    assert quote.rule_id == "2017-icbc-1:interbank_transfer:mobile"


@pytest.mark.parametrize(
    ("product", "channel"),
    [
        (Product.INTERBANK_TRANSFER, Channel.COUNTER),  # charged: nothing waived
        (Product.INTERBANK_TRANSFER, Channel.ONLINE),  # discounted but not free
        (Product.INTRA_BANK_TRANSFER, Channel.MOBILE),  # free at the counter too: nothing to waive
        (Product.INTRA_BANK_TRANSFER, Channel.COUNTER),
    ],
)
def test_not_waived(product: Product, channel: Channel) -> None:
    quote = SCHEDULE.quote(product, channel, cny("5000.00"))
    assert quote.waived is False
    assert quote.waiver_reason is None


def test_quote_describes_the_rule_and_its_derivation() -> None:
    counter = SCHEDULE.quote(Product.INTERBANK_TRANSFER, Channel.COUNTER, cny("100.00"))
    assert counter.description == "1% of the amount, min 1.00, max 50.00 CNY (counter tariff)"
    online = SCHEDULE.quote(Product.INTERBANK_TRANSFER, Channel.ONLINE, cny("100.00"))
    assert online.description == "0.5% of the amount, min 0.50, max 25.00 CNY (counter tariff × 0.5 on online)"
    remit = SCHEDULE.quote(Product.REMITTANCE, Channel.COUNTER, cny("100.00"))
    assert remit.description == "0.1% of the amount, min 50.00, max 260.00 CNY + 150.00 CNY fixed (counter tariff)"


def test_remittance_is_not_offered_at_atms() -> None:
    with pytest.raises(PricingUnavailable) as info:
        SCHEDULE.quote(Product.REMITTANCE, Channel.ATM, cny("100.00"))
    assert info.value.code == "pricing_unavailable"


@pytest.mark.parametrize("amount", [Money(0, CNY), Money(-100, CNY)])
def test_quote_needs_a_positive_amount(amount: Money) -> None:
    with pytest.raises(InvalidAmount):
        SCHEDULE.quote(Product.INTERBANK_TRANSFER, Channel.COUNTER, amount)


def test_quote_needs_cny() -> None:
    with pytest.raises(AssetMismatch):
        SCHEDULE.quote(Product.REMITTANCE, Channel.COUNTER, Money(10000, USD))


# --- properties ---------------------------------------------------------------------------------------------


@given(st.sampled_from(list(Product)), channels, amounts)
def test_fee_is_never_negative_nor_above_max_plus_fixed(product: Product, channel: Channel, amount: Money) -> None:
    try:
        rule = SCHEDULE.rule(product, channel)
    except PricingUnavailable:
        return
    fee = SCHEDULE.quote(product, channel, amount).fee
    assert 0 <= fee.minor <= rule.maximum + rule.fixed


@given(st.sampled_from(list(Product)), channels, amounts, amounts)
def test_fee_is_monotone_in_amount(product: Product, channel: Channel, a: Money, b: Money) -> None:
    if (product, channel) not in SCHEDULE.rules:
        return
    low, high = sorted([a, b])
    assert SCHEDULE.quote(product, channel, low).fee <= SCHEDULE.quote(product, channel, high).fee


@given(st.sampled_from(list(Product)), amounts)
def test_mobile_is_always_free(product: Product, amount: Money) -> None:
    assert SCHEDULE.quote(product, Channel.MOBILE, amount).fee.is_zero()


@given(st.sampled_from(list(Product)), amounts)
def test_online_is_half_the_counter_fee_within_a_fen(product: Product, amount: Money) -> None:
    counter = SCHEDULE.quote(product, Channel.COUNTER, amount).fee.minor
    online = SCHEDULE.quote(product, Channel.ONLINE, amount).fee.minor
    assert abs(2 * online - counter) <= 2  # |online - counter/2| <= 1 fen


@given(amounts)
def test_free_rules_charge_nothing_and_skip_the_minimum(amount: Money) -> None:
    assert FeeRule(Decimal(0), 100, 5000).fee(amount).is_zero()
    assert FeeRule(Decimal(0), 100, 5000, fixed=300).fee(amount) == Money(300, CNY)


# --- the rule type and schedule builder ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate": Decimal("-0.01"), "minimum": 0, "maximum": 0},
        {"rate": Decimal("1.5"), "minimum": 0, "maximum": 0},
        {"rate": Decimal("NaN"), "minimum": 0, "maximum": 0},
        {"rate": 0.01, "minimum": 0, "maximum": 0},
        {"rate": Decimal("0.01"), "minimum": 500, "maximum": 100},
        {"rate": Decimal("0.01"), "minimum": -1, "maximum": 100},
        {"rate": Decimal("0.01"), "minimum": 0, "maximum": 100, "fixed": -1},
        {"rate": Decimal("0.01"), "minimum": 0, "maximum": True},
    ],
)
def test_malformed_fee_rules_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidRulesData):
        FeeRule(**kwargs)  # type: ignore[arg-type]


def test_scaling_rounds_each_component_half_up() -> None:
    rule = FeeRule(Decimal("0.01"), 101, 5001, fixed=15001).scaled(Decimal("0.5"))
    assert rule == FeeRule(Decimal("0.005"), 51, 2501, fixed=7501)


def test_overrides_replace_the_derived_rule() -> None:
    counter = {Product.INTERBANK_TRANSFER: FeeRule(Decimal("0.01"), 100, 5000)}
    override = FeeRule(Decimal(0), 0, 0, fixed=200, note="flat")
    schedule = FeeSchedule.from_counter_tariffs(
        "test",
        counter,
        {Channel.COUNTER: Decimal(1), Channel.ONLINE: Decimal("0.5")},
        {Product.INTERBANK_TRANSFER: [Channel.COUNTER, Channel.ONLINE]},
        {(Product.INTERBANK_TRANSFER, Channel.ONLINE): override},
    )
    assert schedule.quote(Product.INTERBANK_TRANSFER, Channel.ONLINE, cny("5000.00")).fee == cny("2.00")
    with pytest.raises(PricingUnavailable):
        schedule.quote(Product.INTERBANK_TRANSFER, Channel.MOBILE, cny("1.00"))


def test_builder_needs_a_multiplier_for_every_offered_channel() -> None:
    with pytest.raises(InvalidRulesData, match="multiplier"):
        FeeSchedule.from_counter_tariffs(
            "test",
            {Product.INTERBANK_TRANSFER: FeeRule(Decimal("0.01"), 100, 5000)},
            {Channel.COUNTER: Decimal(1)},
            {Product.INTERBANK_TRANSFER: [Channel.MOBILE]},
        )


# --- the loader ---------------------------------------------------------------------------------------------

VALID = """
version = "t1"
[channel_multipliers]
counter = "1"
mobile = "0"
[products.interbank_transfer]
channels = ["counter", "mobile"]
counter = { rate = "0.01", minimum = "1.00", maximum = "50.00" }
"""


def test_loader_reads_a_minimal_document() -> None:
    schedule = fee_schedule_from_text(VALID)
    assert schedule.version == "t1"
    assert schedule.quote(Product.INTERBANK_TRANSFER, Channel.COUNTER, cny("5000.00")).fee == cny("50.00")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version = ", "not valid TOML"),
        (VALID.replace('rate = "0.01"', "rate = 0.01"), "products.interbank_transfer.counter.rate: use a quoted"),
        (VALID.replace('minimum = "1.00"', 'minimum = "1.001"'), "products.interbank_transfer.counter.minimum"),
        (VALID.replace('minimum = "1.00"', 'minimum = "-1.00"'), "must not be negative"),
        (VALID.replace('minimum = "1.00"', 'minimum = "60.00"'), "above maximum"),
        (VALID.replace('"mobile"]', '"phone"]'), "unknown Channel"),
        (VALID.replace("[products.interbank_transfer]", "[products.fx]"), "unknown Product"),
        (VALID.replace('mobile = "0"', 'mobile = "-1"'), "must not be negative"),
        (VALID.replace('mobile = "0"', 'mobile = "lots"'), "not a decimal"),
        (VALID.replace('mobile = "0"\n', ""), "no multiplier for channel mobile"),
        (VALID.replace('version = "t1"', ""), "version: missing"),
        (VALID + "surprise = 1\n", "unknown key"),
        (VALID.replace('maximum = "50.00" }', 'maximum = "50.00", cap = "1" }'), "cap: unknown key"),
    ],
)
def test_loader_reports_malformed_documents_clearly(text: str, message: str) -> None:
    with pytest.raises(InvalidRulesData, match=message) as info:
        fee_schedule_from_text(text)
    assert str(info.value).startswith("pricing.toml")
    assert info.value.code == "invalid_rules_data"


def test_loader_is_cached() -> None:
    assert load_fee_schedule() is load_fee_schedule()
