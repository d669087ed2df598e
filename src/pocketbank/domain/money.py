"""Money: exact amounts of an asset, counted in integer minor units.

An amount is a whole number of the asset's smallest unit (`minor`) plus the `Asset` it counts. 12.34 CNY is
`Money(1234, CNY)`; 1,234 JPY is `Money(1234, JPY)` because the yen has no minor unit; 1.5 g of gold is
`Money(15000, XAU)` because metals are held to a ten-thousandth of a gram. The asset's `scale` is the
number of decimal places between the unit people read and the unit we count.

Why integers. Binary floats cannot represent 0.10 exactly, so sums drift and two ledgers that should agree
disagree by a fen. Integers add, subtract and compare exactly, map one-to-one onto a BIGINT column, and make
"did we lose a unit?" a question with a yes/no answer. Hence the invariants:

* `minor` is a plain `int` (never `bool`, `float` or `Decimal`) and |minor| <= 2**63 - 1, so every amount
  fits signed 64-bit storage. The range is symmetric on purpose: negation can never overflow.
* Amounts of different assets never mix: adding, subtracting or ordering CNY against USD raises
  `AssetMismatch`. Converting between assets is a service decision with a rate, not arithmetic.
* Multiplying by an integer is allowed (ten transfers of the same fee); multiplying by a float or a
  Decimal is refused. A rate (interest, FX, a fee percentage) is a `Decimal`, and the only way it becomes an
  amount is `Money.from_decimal(value, asset, rounding)`, where the caller must name the rounding rule.

Why parsing is strict. Text arrives from people and from other systems, and a lenient parser turns typos
into money movements. `Money.parse` accepts exactly `-?[0-9]+(\\.[0-9]+)?`: no spaces, no '+', no exponent,
no thousands separators, no NaN or Infinity, no bare '.5' or '5.'. More decimals than the asset's scale is
`TooManyDecimals`, even when the extra digits are zeros ("1.230" CNY): we never round an amount someone
typed, and we do not guess that a surplus digit was harmless. Fewer decimals are fine ("0.5" CNY is 50).

How allocation never loses a unit. Splitting 100 fen three ways cannot give 33.33 each. `allocate` gives
every part the floor of its exact proportional share, which leaves a remainder smaller than the number of
parts; that remainder is handed out one unit at a time to the parts whose exact share had the largest
fractional part (ties go to the earlier part, so the result is deterministic). The parts therefore sum to
the original exactly, and each part is within one minor unit of its exact share. Negative amounts are
allocated as their absolute value and negated, so splitting a debit mirrors splitting a credit.

Assets live in an `AssetRegistry`: ISO 4217 currencies (ledger number = ISO numeric code), precious metals
in grams, and fund shares registered at run time. `default_registry()` builds a fresh registry on every
call; there is no module-level mutable state.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal
from enum import StrEnum
from typing import Final

from babel import Locale
from babel.numbers import NumberPattern, format_currency, format_decimal

from pocketbank.errors import (
    AmountOverflow,
    AssetConflict,
    AssetMismatch,
    InvalidAmount,
    InvalidAsset,
    TooManyDecimals,
    UnknownAsset,
    UnsupportedLocale,
)

MAX_MINOR: Final = 2**63 - 1
MAX_SCALE: Final = 18

_ASSET_CODE = re.compile(r"[A-Z0-9-]{3,16}")
# [0-9] rather than \d: \d also matches Arabic-Indic and other Unicode digits.
_AMOUNT = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?")
_MAX_MINOR_DIGITS: Final = len(str(MAX_MINOR))


class AssetKind(StrEnum):
    CURRENCY = "currency"
    METAL = "metal"
    FUND = "fund"


class Rounding(StrEnum):
    """How a Decimal becomes a whole number of minor units. Always named by the caller, never implied."""

    HALF_UP = "half_up"  # fees: nearest minor unit, ties away from zero
    DOWN = "down"  # shares and grams: toward zero, so the bank never hands out what it does not hold
    HALF_EVEN = "half_even"  # banker's rounding: ties to even, unbiased over many roundings


_DECIMAL_ROUNDING: Final = {
    Rounding.HALF_UP: ROUND_HALF_UP,
    Rounding.DOWN: ROUND_DOWN,
    Rounding.HALF_EVEN: ROUND_HALF_EVEN,
}


@dataclass(frozen=True, slots=True)
class Asset:
    """Something the bank holds balances in: `ledger` is its number in storage, `scale` its decimals."""

    code: str
    ledger: int
    scale: int
    kind: AssetKind

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not _ASSET_CODE.fullmatch(self.code):
            raise InvalidAsset(f"asset code {self.code!r} must be 3-16 of A-Z, 0-9, '-'", param="code")
        if type(self.ledger) is not int or self.ledger <= 0:
            raise InvalidAsset(f"ledger of {self.code} must be a positive int", param="ledger")
        if type(self.scale) is not int or not 0 <= self.scale <= MAX_SCALE:
            raise InvalidAsset(f"scale of {self.code} must be an int in 0..{MAX_SCALE}", param="scale")
        if not isinstance(self.kind, AssetKind):
            raise InvalidAsset(f"kind of {self.code} must be an AssetKind", param="kind")


def _currency(code: str, ledger: int, scale: int = 2) -> Asset:
    return Asset(code, ledger, scale, AssetKind.CURRENCY)


CNY: Final = _currency("CNY", 156)
USD: Final = _currency("USD", 840)
EUR: Final = _currency("EUR", 978)
HKD: Final = _currency("HKD", 344)
GBP: Final = _currency("GBP", 826)
JPY: Final = _currency("JPY", 392, scale=0)
AUD: Final = _currency("AUD", 36)
CAD: Final = _currency("CAD", 124)
SGD: Final = _currency("SGD", 702)
CHF: Final = _currency("CHF", 756)
# Metals are held in grams to 0.0001 g; ledger numbers are the ISO 4217 codes of the troy-ounce units.
XAU: Final = Asset("XAU", 959, 4, AssetKind.METAL)
XAG: Final = Asset("XAG", 961, 4, AssetKind.METAL)
XPT: Final = Asset("XPT", 962, 4, AssetKind.METAL)

BUILTIN_ASSETS: Final[tuple[Asset, ...]] = (CNY, USD, EUR, HKD, GBP, JPY, AUD, CAD, SGD, CHF, XAU, XAG, XPT)
FUND_SHARE_SCALE: Final = 2


def fund_shares(code: str, ledger: int) -> Asset:
    """The asset for one fund's shares, e.g. `fund_shares("FUND-000001", 100001)`."""
    return Asset(code, ledger, FUND_SHARE_SCALE, AssetKind.FUND)


class AssetRegistry:
    """Assets known to one running bank, addressable by code and by ledger number."""

    __slots__ = ("_by_code", "_by_ledger")

    def __init__(self, assets: Iterable[Asset] = ()) -> None:
        self._by_code: dict[str, Asset] = {}
        self._by_ledger: dict[int, Asset] = {}
        for asset in assets:
            self.register(asset)

    def register(self, asset: Asset) -> Asset:
        """Add an asset. Re-registering an identical asset is a no-op; a clash on code or ledger raises."""
        if not isinstance(asset, Asset):
            raise InvalidAsset(f"expected an Asset, got {type(asset).__name__}", param="asset")
        existing = self._by_code.get(asset.code)
        if existing == asset:
            return asset
        if existing is not None:
            raise AssetConflict(f"asset code {asset.code} is already {existing}", param="code")
        holder = self._by_ledger.get(asset.ledger)
        if holder is not None:
            raise AssetConflict(f"ledger {asset.ledger} is already used by {holder.code}", param="ledger")
        self._by_code[asset.code] = asset
        self._by_ledger[asset.ledger] = asset
        return asset

    def get(self, code: str) -> Asset:
        try:
            return self._by_code[code]
        except (KeyError, TypeError):
            raise UnknownAsset(f"unknown asset {code!r}", param="asset") from None

    def by_ledger(self, ledger: int) -> Asset:
        try:
            return self._by_ledger[ledger]
        except (KeyError, TypeError):
            raise UnknownAsset(f"no asset on ledger {ledger!r}", param="ledger") from None

    def __contains__(self, item: object) -> bool:
        """`"CNY" in registry` checks the code; `asset in registry` checks that exact asset is registered."""
        if isinstance(item, Asset):
            return self._by_code.get(item.code) == item
        return isinstance(item, str) and item in self._by_code

    def all(self) -> tuple[Asset, ...]:
        """Every registered asset, in registration order."""
        return tuple(self._by_code.values())


def default_registry() -> AssetRegistry:
    """A new registry holding the built-in currencies and metals; callers add their funds to it."""
    return AssetRegistry(BUILTIN_ASSETS)


def _check_same_asset(a: Money, b: Money) -> None:
    if a.asset != b.asset:
        raise AssetMismatch(f"cannot combine {a.asset.code} with {b.asset.code}", param="asset")


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: `minor` whole minor units of `asset`. Equal only to the same amount and asset."""

    minor: int
    asset: Asset

    def __post_init__(self) -> None:
        # `type(...) is int` because bool is an int subclass and True fen is a bug, not an amount.
        if type(self.minor) is not int:
            raise InvalidAmount(f"minor must be an int, got {type(self.minor).__name__}", param="amount")
        if not isinstance(self.asset, Asset):
            raise InvalidAmount(f"asset must be an Asset, got {type(self.asset).__name__}", param="asset")
        if abs(self.minor) > MAX_MINOR:
            raise AmountOverflow("amount does not fit in 64-bit minor units", param="amount")

    # --- construction ------------------------------------------------------------------------------------

    @classmethod
    def zero(cls, asset: Asset) -> Money:
        return cls(0, asset)

    @classmethod
    def parse(cls, text: str, asset: Asset) -> Money:
        """Read a plain decimal string ("-12.34") exactly; see the module docstring for what is refused."""
        if not isinstance(text, str):
            raise InvalidAmount(f"amount must be a string, got {type(text).__name__}", param="amount")
        match = _AMOUNT.fullmatch(text)
        if match is None:
            raise InvalidAmount(f"{text!r} is not a plain decimal amount", param="amount")
        sign, whole, fraction = match.group(1), match.group(2), match.group(3) or ""
        if len(fraction) > asset.scale:
            raise TooManyDecimals(f"{text!r} has more than {asset.scale} decimals for {asset.code}", param="amount")
        digits = (whole + fraction.ljust(asset.scale, "0")).lstrip("0") or "0"
        # Checked before int() so a megabyte of digits costs nothing and never hits int's digit limit.
        if len(digits) > _MAX_MINOR_DIGITS:
            raise AmountOverflow(f"{text!r} does not fit in 64-bit minor units", param="amount")
        minor = int(digits)
        return cls(-minor if sign else minor, asset)

    @classmethod
    def from_decimal(cls, value: Decimal, asset: Asset, rounding: Rounding) -> Money:
        """The one place a Decimal (a rate applied to an amount) becomes money, rounded by the named rule."""
        if not isinstance(value, Decimal):
            raise InvalidAmount(f"expected a Decimal, got {type(value).__name__}", param="amount")
        if not value.is_finite():
            raise InvalidAmount(f"{value} is not a finite amount", param="amount")
        if not isinstance(rounding, Rounding):
            raise InvalidAmount(f"rounding must be a Rounding, got {rounding!r}", param="rounding")
        if value.is_zero():
            return cls(0, asset)
        # Bounding the magnitude first keeps the arithmetic below exact in a small fixed precision.
        if value.adjusted() > _MAX_MINOR_DIGITS:
            raise AmountOverflow(f"{value} does not fit in 64-bit minor units", param="amount")
        # A private context: the caller's thread context (precision, traps) must not change our result.
        context = Context(prec=2 * (_MAX_MINOR_DIGITS + MAX_SCALE), rounding=_DECIMAL_ROUNDING[rounding])
        # Quantize the value itself, so it is rounded exactly once, straight to the minor unit.
        rounded = context.quantize(value, Decimal((0, (1,), -asset.scale)))
        return cls(int(rounded.scaleb(asset.scale, context)), asset)

    # --- reading -----------------------------------------------------------------------------------------

    def to_decimal(self) -> Decimal:
        """The exact value in major units, keeping the asset's scale (Money(100, CNY) -> Decimal("1.00"))."""
        digits = tuple(int(d) for d in str(abs(self.minor)))
        return Decimal((int(self.minor < 0), digits, -self.asset.scale))

    def plain(self) -> str:
        """Locale-free text that `Money.parse` reads back to this exact amount, e.g. "-12.34"."""
        return f"{self.to_decimal():f}"

    def __str__(self) -> str:
        return f"{self.plain()} {self.asset.code}"

    def is_zero(self) -> bool:
        return self.minor == 0

    def is_positive(self) -> bool:
        return self.minor > 0

    def is_negative(self) -> bool:
        return self.minor < 0

    # --- arithmetic --------------------------------------------------------------------------------------

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        _check_same_asset(self, other)
        return Money(self.minor + other.minor, self.asset)

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        _check_same_asset(self, other)
        return Money(self.minor - other.minor, self.asset)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.asset)

    def __mul__(self, factor: int) -> Money:
        # Only exact integers: a float or Decimal factor is a rate and must go through from_decimal.
        if type(factor) is not int:
            return NotImplemented
        return Money(self.minor * factor, self.asset)

    __rmul__ = __mul__

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        _check_same_asset(self, other)
        return self.minor < other.minor

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        _check_same_asset(self, other)
        return self.minor <= other.minor

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        _check_same_asset(self, other)
        return self.minor > other.minor

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        _check_same_asset(self, other)
        return self.minor >= other.minor

    # --- allocation --------------------------------------------------------------------------------------

    def allocate(self, ratios: Sequence[int]) -> list[Money]:
        """Split into parts proportional to `ratios` whose sum is exactly this amount (largest remainder)."""
        if not ratios:
            raise ValueError("allocate needs at least one ratio")
        if any(type(r) is not int or r < 0 for r in ratios):
            raise ValueError("ratios must be non-negative ints")
        total_ratio = sum(ratios)
        if total_ratio == 0:
            raise ValueError("ratios must not all be zero")
        amount = abs(self.minor)
        shares = [divmod(amount * r, total_ratio) for r in ratios]
        parts = [floor for floor, _ in shares]
        leftover = amount - sum(parts)
        # Sorting is stable, so equal remainders keep ratio order and the earlier part wins the tie.
        by_remainder = sorted(range(len(ratios)), key=lambda i: shares[i][1], reverse=True)
        for i in by_remainder[:leftover]:
            parts[i] += 1
        sign = -1 if self.minor < 0 else 1
        return [Money(sign * part, self.asset) for part in parts]

    def split(self, n: int) -> list[Money]:
        """`n` parts as equal as possible; earlier parts carry the extra units."""
        if type(n) is not int or n < 1:
            raise ValueError("split needs a positive int number of parts")
        return self.allocate([1] * n)

    # --- display -----------------------------------------------------------------------------------------

    def format(self, locale: str = "en") -> str:
        """Human text for `locale` ("en" or "zh_CN"), always showing exactly the asset's decimals."""
        if locale not in _UNIT_SUFFIX:
            raise UnsupportedLocale(f"locale {locale!r} is not supported", param="locale")
        babel_locale = Locale.parse(locale)
        value = self.to_decimal()
        if self.asset.kind is AssetKind.CURRENCY:
            pattern = _fixed_decimals(babel_locale.currency_formats["standard"], self.asset.scale)
            return format_currency(value, self.asset.code, format=pattern, locale=babel_locale, currency_digits=False)
        pattern = _fixed_decimals(babel_locale.decimal_formats[None], self.asset.scale)
        suffix = _UNIT_SUFFIX[locale][self.asset.kind]
        return format_decimal(value, format=pattern, locale=babel_locale) + suffix


_UNIT_SUFFIX: Final[dict[str, dict[AssetKind, str]]] = {
    "en": {AssetKind.METAL: " g", AssetKind.FUND: " shares"},
    "zh_CN": {AssetKind.METAL: " g", AssetKind.FUND: " 份"},
}


def _fixed_decimals(pattern: NumberPattern, scale: int) -> NumberPattern:
    # The locale's own pattern keeps symbol placement and grouping; only the decimals follow the asset,
    # because CLDR's digit counts (or a pattern's "#.###") are not the precision we store.
    fixed = copy.copy(pattern)
    fixed.frac_prec = (scale, scale)
    return fixed
