"""Pricing: what a product costs on each channel, with the electronic-channel discounts stated plainly.

**The tariff.** A fee rule charges a percentage of the amount, clamped between a minimum and a maximum, plus an
optional fixed part (the cable fee of an outward remittance):

    fee = clamp(amount × rate, minimum, maximum) + fixed        (rounded HALF_UP to the fen)

A rate of 0 means the percentage part is free: no minimum is charged, so the fee is just `fixed` (usually 0).
All amounts are CNY minor units (fen); a fee is quoted on a CNY amount, so a foreign-currency remittance is
priced on its CNY equivalent, which the FX service works out first.

**Channels as multipliers on the counter tariff.** Chinese banks publish a counter tariff and discount the
electronic channels (reference §1.1): ICBC's counter charged 1% (min 1, max 50 CNY) for an interbank
transfer, online banking half of that (CCB's 0.5%, max 25 is the same tariff at 50%), and from 2017 mobile
banking nothing at all. A `FeeSchedule` is therefore built from one counter tariff per product and one
multiplier per channel (`FeeSchedule.from_counter_tariffs`): the derived rule multiplies rate, minimum,
maximum and fixed part alike, each rounded HALF_UP to the fen. A specific (product, channel) rule may
override the derivation. The shipped values are in `data/pricing.toml`; a product a channel does not offer
(no remittances at an ATM) has no rule there, and quoting it raises `PricingUnavailable`.

**Saying "free" out loud.** `FeeSchedule.quote` reports the counter fee beside the actual one and sets
`waived` when the counter would have charged but this channel's preferential rule makes it free, so the
app can show "free on mobile (50.00 CNY at the counter)". A product that is free everywhere (same-bank
transfers, free since PBoC Yinfa [2016] No. 261) is not "waived": there was nothing to waive.

Invariants (property-tested): a fee is never negative, never above `maximum + fixed`, never falls when
the amount rises, and a channel multiplier of 0 always gives 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from pocketbank.domain.channels import Channel
from pocketbank.domain.money import CNY, Money, Rounding
from pocketbank.errors import AssetMismatch, InvalidAmount, InvalidRulesData, PricingUnavailable

FEE_ROUNDING: Final = Rounding.HALF_UP
_HUNDRED: Final = Decimal(100)


class Product(StrEnum):
    INTRA_BANK_TRANSFER = "intra_bank_transfer"  # to another account at this bank
    INTERBANK_TRANSFER = "interbank_transfer"  # to an account at another bank (CNAPS)
    REMITTANCE = "remittance"  # outward cross-border remittance (SWIFT)


def _cny(minor: int) -> str:
    return Money(minor, CNY).plain()


def _scale_minor(minor: int, multiplier: Decimal) -> int:
    return Money.from_decimal(Money(minor, CNY).to_decimal() * multiplier, CNY, FEE_ROUNDING).minor


@dataclass(frozen=True, slots=True)
class FeeRule:
    """`clamp(amount × rate, minimum, maximum) + fixed`, in CNY minor units; `note` says where it came from."""

    rate: Decimal
    minimum: int
    maximum: int
    fixed: int = 0
    note: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.rate, Decimal) or not self.rate.is_finite() or not 0 <= self.rate <= 1:
            raise InvalidRulesData(f"fee rate must be a Decimal in [0, 1], got {self.rate!r}", param="rate")
        for name in ("minimum", "maximum", "fixed"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise InvalidRulesData(f"fee {name} must be a non-negative int of fen, got {value!r}", param=name)
        if self.minimum > self.maximum:
            raise InvalidRulesData(
                f"fee minimum {_cny(self.minimum)} is above maximum {_cny(self.maximum)}", param="minimum"
            )

    @property
    def is_free(self) -> bool:
        return self.rate.is_zero() and self.fixed == 0

    def fee(self, amount: Money) -> Money:
        """The fee on a positive CNY `amount`."""
        if self.rate.is_zero():
            return Money(self.fixed, CNY)
        variable = Money.from_decimal(amount.to_decimal() * self.rate, CNY, FEE_ROUNDING).minor
        return Money(min(max(variable, self.minimum), self.maximum) + self.fixed, CNY)

    def scaled(self, multiplier: Decimal, note: str = "") -> FeeRule:
        """This tariff with every component multiplied by `multiplier` (each amount rounded HALF_UP to the fen)."""
        if not isinstance(multiplier, Decimal) or not multiplier.is_finite() or multiplier < 0:
            raise InvalidRulesData(f"multiplier must be a non-negative Decimal, got {multiplier!r}", param="multiplier")
        return FeeRule(
            rate=(self.rate * multiplier).normalize(),
            minimum=_scale_minor(self.minimum, multiplier),
            maximum=_scale_minor(self.maximum, multiplier),
            fixed=_scale_minor(self.fixed, multiplier),
            note=note,
        )

    def describe(self) -> str:
        """Plain words, e.g. "1% of the amount, min 1.00, max 50.00 CNY" or "free"."""
        if self.is_free:
            return "free"
        parts = []
        if not self.rate.is_zero():
            percent = f"{(self.rate * _HUNDRED).normalize():f}"
            parts.append(f"{percent}% of the amount, min {_cny(self.minimum)}, max {_cny(self.maximum)} CNY")
        if self.fixed:
            parts.append(f"{_cny(self.fixed)} CNY fixed")
        return " + ".join(parts)


@dataclass(frozen=True, slots=True)
class FeeQuote:
    """The fee for one request, which rule produced it, and whether a channel discount made it free."""

    fee: Money
    rule_id: str  # "<schedule version>:<product>:<channel>", stored with the transfer for audit
    description: str  # the rule in plain words, with its derivation
    waived: bool
    waiver_reason: str | None
    counter_fee: Money | None  # what the counter would charge; None if the counter does not offer it


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """One FeeRule per (product, channel) a product is offered on; `version` names the tariff for audit."""

    version: str
    rules: Mapping[tuple[Product, Channel], FeeRule] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.version, str) or not self.version:
            raise InvalidRulesData("a fee schedule needs a version", param="version")
        for key, rule in self.rules.items():
            product, channel = key
            if not isinstance(product, Product) or not isinstance(channel, Channel) or not isinstance(rule, FeeRule):
                raise InvalidRulesData(f"bad fee schedule entry {key!r}: {rule!r}", param="rules")
        object.__setattr__(self, "rules", MappingProxyType(dict(self.rules)))

    @classmethod
    def from_counter_tariffs(
        cls,
        version: str,
        counter: Mapping[Product, FeeRule],
        multipliers: Mapping[Channel, Decimal],
        offered: Mapping[Product, Iterable[Channel]],
        overrides: Mapping[tuple[Product, Channel], FeeRule] | None = None,
    ) -> FeeSchedule:
        """Derive each offered (product, channel) rule as `counter[product].scaled(multipliers[channel])`.

        An entry in `overrides` replaces the derived rule. Every offered product needs a counter tariff
        (or overrides for each of its channels) and every offered channel a multiplier.
        """
        overrides = overrides or {}
        rules: dict[tuple[Product, Channel], FeeRule] = {}
        for product, channels in offered.items():
            for channel in channels:
                key = (product, channel)
                if key in overrides:
                    rules[key] = overrides[key]
                    continue
                if product not in counter:
                    raise InvalidRulesData(f"no counter tariff for {product}", param="counter")
                if channel not in multipliers:
                    raise InvalidRulesData(f"no multiplier for channel {channel}", param="multipliers")
                multiplier = multipliers[channel]
                note = "counter tariff" if multiplier == 1 else f"counter tariff × {multiplier} on {channel}"
                rules[key] = counter[product].scaled(multiplier, note=note)
        return cls(version, rules)

    def rule(self, product: Product, channel: Channel) -> FeeRule:
        try:
            return self.rules[(product, channel)]
        except KeyError:
            raise PricingUnavailable(f"{product} is not offered on the {channel} channel", param="channel") from None

    def quote(self, product: Product, channel: Channel, amount: Money) -> FeeQuote:
        """The fee for moving `amount` (positive, CNY) as `product` through `channel`."""
        if not isinstance(amount, Money):
            raise InvalidAmount("amount must be Money", param="amount")
        if amount.asset != CNY:
            raise AssetMismatch(f"fees are tariffed in CNY; quote the CNY equivalent of {amount}", param="amount")
        if not amount.is_positive():
            raise InvalidAmount("a fee is quoted on a positive amount", param="amount")
        rule = self.rule(product, channel)
        fee = rule.fee(amount)
        counter_rule = self.rules.get((product, Channel.COUNTER))
        counter_fee = counter_rule.fee(amount) if counter_rule is not None else None
        waived = (
            channel is not Channel.COUNTER and fee.is_zero() and counter_fee is not None and counter_fee.is_positive()
        )
        reason = f"free on {channel} ({counter_fee} at the counter)" if waived else None
        description = rule.describe() + (f" ({rule.note})" if rule.note else "")
        return FeeQuote(
            fee=fee,
            rule_id=f"{self.version}:{product}:{channel}",
            description=description,
            waived=waived,
            waiver_reason=reason,
            counter_fee=counter_fee,
        )
