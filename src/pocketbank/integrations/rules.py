"""Load the bank's rule data (fees, limits, the password blocklist) from package data into domain objects.

The domain modules are pure and take their rules as arguments; reading the bundled files is I/O, so it happens
here. Each loader reads one file under `pocketbank/data/` with `importlib.resources` (so it works from a wheel
or a zip), parses it, and builds the domain object, which validates itself. Results are cached: the files
ship with the code and do not change while it runs.

A malformed file raises `InvalidRulesData` whose message names the file and the offending key, e.g.
``pricing.toml: products.interbank_transfer.counter.rate: use a quoted decimal string, not 0.01``. Amounts in
the files are quoted decimals parsed strictly by `Money.parse` (no floats, at most the currency's decimals): CNY,
except in a `limits.toml` `[currencies.<code>]` table, whose amounts are in that currency.

The `*_from_text` functions take the file contents instead, so tests (and operators checking a new tariff
before shipping it) can validate a document without installing it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any, Final, TypeVar

from pocketbank.domain.channels import AuthMethod, Channel
from pocketbank.domain.customers import AccountClass, ClassLimits
from pocketbank.domain.limits import CoolingOff, Limit, LimitPeriod, LimitPolicy, LimitSchedule, auth_scope
from pocketbank.domain.money import CNY, Asset, AssetKind, Money, default_registry
from pocketbank.domain.pricing import FeeRule, FeeSchedule, Product
from pocketbank.errors import InvalidRulesData, PocketBankError, UnknownAsset

PRICING_FILE: Final = "pricing.toml"
LIMITS_FILE: Final = "limits.toml"
COMMON_PASSWORDS_FILE: Final = "common_passwords.txt"
_DATA_PACKAGE: Final = "pocketbank"
_DATA_DIR: Final = "data"
_E = TypeVar("_E", Product, Channel, AuthMethod)


def _read_data(name: str) -> str:
    try:
        return resources.files(_DATA_PACKAGE).joinpath(_DATA_DIR, name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRulesData(f"{name}: cannot read bundled rule data: {exc}") from exc


class _Doc:
    """Typed access to a parsed TOML table that reports the dotted path of whatever is wrong."""

    def __init__(self, file: str, table: Mapping[str, Any], path: str = "") -> None:
        self.file = file
        self.table = table
        self.path = path

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, problem: str) -> InvalidRulesData:
        return InvalidRulesData(f"{self.file}: {self.where(key)}: {problem}", param=self.where(key))

    def names(self) -> list[str]:
        return list(self.table)

    def has(self, key: str) -> bool:
        return key in self.table

    def raw(self, key: str) -> Any:
        if key not in self.table:
            raise self.fail(key, "missing")
        return self.table[key]

    def sub(self, key: str) -> _Doc:
        value = self.raw(key)
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table")
        return _Doc(self.file, value, self.where(key))

    def text(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"must be a non-empty string, got {value!r}")
        return value

    def integer(self, key: str) -> int:
        value = self.raw(key)
        if type(value) is not int:
            raise self.fail(key, f"must be an integer, got {value!r}")
        return value

    def decimal(self, key: str) -> Decimal:
        value = self.raw(key)
        if not isinstance(value, str):
            raise self.fail(key, f"use a quoted decimal string, not {value!r}")
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise self.fail(key, f"{value!r} is not a decimal number") from None
        if not number.is_finite():
            raise self.fail(key, f"{value!r} is not a finite number")
        return number

    def amount(self, key: str, asset: Asset) -> int:
        """A non-negative quoted amount of `asset`, in its minor units."""
        value = self.raw(key)
        if not isinstance(value, str):
            example = "1" if asset.scale == 0 else "1." + "0" * asset.scale
            raise self.fail(key, f'use a quoted {asset.code} amount such as "{example}", not {value!r}')
        try:
            minor = Money.parse(value, asset).minor
        except PocketBankError as exc:
            raise self.fail(key, exc.message) from None
        if minor < 0:
            raise self.fail(key, "must not be negative")
        return minor

    def optional_amount(self, key: str, asset: Asset) -> int | None:
        return self.amount(key, asset) if self.has(key) else None

    def cny(self, key: str) -> int:
        return self.amount(key, CNY)

    def only(self, allowed: set[str]) -> None:
        unknown = sorted(set(self.table) - allowed)
        if unknown:
            raise self.fail(unknown[0], f"unknown key (expected one of {sorted(allowed)})")


def _parse_toml(file: str, text: str) -> _Doc:
    try:
        return _Doc(file, tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidRulesData(f"{file}: not valid TOML: {exc}") from None


def _enum_key(doc: _Doc, key: str, enum: type[_E]) -> _E:
    try:
        return enum(key)
    except ValueError:
        raise doc.fail(key, f"unknown {enum.__name__} (expected one of {[e.value for e in enum]})") from None


def _fee_rule(doc: _Doc, note: str) -> FeeRule:
    doc.only({"rate", "minimum", "maximum", "fixed"})
    fixed = doc.cny("fixed") if doc.has("fixed") else 0
    try:
        return FeeRule(doc.decimal("rate"), doc.cny("minimum"), doc.cny("maximum"), fixed, note=note)
    except InvalidRulesData as exc:
        raise InvalidRulesData(f"{doc.file}: {doc.path}: {exc.message}", param=doc.path) from None


# --- fees -------------------------------------------------------------------------------------------------


def fee_schedule_from_text(text: str, file: str = PRICING_FILE) -> FeeSchedule:
    """Parse a pricing.toml document (format documented at the top of the shipped file)."""
    doc = _parse_toml(file, text)
    doc.only({"version", "channel_multipliers", "products", "overrides"})
    multipliers_doc = doc.sub("channel_multipliers")
    multipliers: dict[Channel, Decimal] = {}
    for key in multipliers_doc.names():
        value = multipliers_doc.decimal(key)
        if value < 0:
            raise multipliers_doc.fail(key, "a multiplier must not be negative")
        multipliers[_enum_key(multipliers_doc, key, Channel)] = value
    products_doc = doc.sub("products")
    counter: dict[Product, FeeRule] = {}
    offered: dict[Product, list[Channel]] = {}
    for key in products_doc.names():
        product = _enum_key(products_doc, key, Product)
        entry = products_doc.sub(key)
        entry.only({"channels", "counter"})
        channels = entry.raw("channels")
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            raise entry.fail("channels", "must be a list of channel names")
        offered[product] = [_enum_key(entry, c, Channel) for c in channels]
        if len(set(offered[product])) != len(offered[product]):
            raise entry.fail("channels", "lists a channel twice")
        counter[product] = _fee_rule(entry.sub("counter"), note="counter tariff")
    overrides: dict[tuple[Product, Channel], FeeRule] = {}
    if doc.has("overrides"):
        overrides_doc = doc.sub("overrides")
        for product_key in overrides_doc.names():
            product = _enum_key(overrides_doc, product_key, Product)
            by_channel = overrides_doc.sub(product_key)
            for channel_key in by_channel.names():
                channel = _enum_key(by_channel, channel_key, Channel)
                overrides[(product, channel)] = _fee_rule(by_channel.sub(channel_key), note=f"{channel} override")
    try:
        return FeeSchedule.from_counter_tariffs(doc.text("version"), counter, multipliers, offered, overrides)
    except InvalidRulesData as exc:
        raise InvalidRulesData(f"{file}: {exc.message}", param=exc.param) from None


@cache
def load_fee_schedule() -> FeeSchedule:
    """The shipped fee schedule, `pocketbank/data/pricing.toml`."""
    return fee_schedule_from_text(_read_data(PRICING_FILE))


# --- limits -----------------------------------------------------------------------------------------------


def limit_policy_from_text(text: str, file: str = LIMITS_FILE) -> LimitPolicy:
    """Parse a limits.toml document (format documented at the top of the shipped file)."""
    doc = _parse_toml(file, text)
    doc.only({"version", "auth", "classes", "cooling_off", "currencies"})
    cooling_doc = doc.sub("cooling_off")
    cooling_doc.only({"window_seconds", "cap"})
    try:
        cooling_off = CoolingOff(window_seconds=cooling_doc.integer("window_seconds"), cap=cooling_doc.cny("cap"))
        auth, classes = _auth_limits(doc.sub("auth"), CNY), _class_limits(doc.sub("classes"), CNY)
        currencies: dict[str, LimitSchedule] = {}
        if doc.has("currencies"):
            currencies_doc = doc.sub("currencies")
            for code in currencies_doc.names():
                currencies[code] = _schedule(currencies_doc, code, cooling_off.window_seconds)
        return LimitPolicy(doc.text("version"), auth, classes, cooling_off, currencies)
    except InvalidRulesData as exc:
        message = exc.message if exc.message.startswith(f"{file}: ") else f"{file}: {exc.message}"
        raise InvalidRulesData(message, param=exc.param) from None


def _auth_limits(auth_doc: _Doc, asset: Asset) -> dict[AuthMethod, tuple[Limit, ...]]:
    auth: dict[AuthMethod, tuple[Limit, ...]] = {}
    for key in auth_doc.names():
        method = _enum_key(auth_doc, key, AuthMethod)
        periods = auth_doc.sub(key)
        periods.only({p.value for p in LimitPeriod})
        auth[method] = tuple(
            Limit(auth_scope(method), LimitPeriod(p), periods.amount(p, asset), asset.code) for p in periods.names()
        )
    return auth


def _class_limits(classes_doc: _Doc, asset: Asset) -> dict[AccountClass, ClassLimits]:
    classes: dict[AccountClass, ClassLimits] = {}
    for key in classes_doc.names():
        if key not in AccountClass.__members__:
            raise classes_doc.fail(key, f"unknown account class (expected one of {list(AccountClass.__members__)})")
        caps = classes_doc.sub(key)
        caps.only({"daily_out", "yearly_out", "max_balance"})
        classes[AccountClass[key]] = ClassLimits(
            daily_out=caps.optional_amount("daily_out", asset),
            yearly_out=caps.optional_amount("yearly_out", asset),
            max_balance=caps.optional_amount("max_balance", asset),
        )
    return classes


def _schedule(currencies_doc: _Doc, code: str, window_seconds: int) -> LimitSchedule:
    """One ``[currencies.<code>]`` table: the CNY shape, amounts in that currency, the CNY cooling-off window."""
    try:
        asset = default_registry().get(code)
    except UnknownAsset:
        raise currencies_doc.fail(code, "unknown currency") from None
    if asset.kind is not AssetKind.CURRENCY or asset == CNY:
        raise currencies_doc.fail(code, "not a foreign currency (CNY limits are the top-level tables)")
    doc = currencies_doc.sub(code)
    doc.only({"reference_rate", "cooling_off_cap", "auth", "classes"})
    rate = doc.decimal("reference_rate")
    if rate <= 0:
        raise doc.fail("reference_rate", "must be positive (CNY per unit)")
    try:
        return LimitSchedule(
            currency=asset.code,
            auth=_auth_limits(doc.sub("auth"), asset),
            classes=_class_limits(doc.sub("classes"), asset),
            cooling_off=CoolingOff(window_seconds=window_seconds, cap=doc.amount("cooling_off_cap", asset)),
            reference_rate=rate,
        )
    except InvalidRulesData as exc:
        if exc.message.startswith(f"{doc.file}: "):
            raise
        raise InvalidRulesData(f"{doc.file}: {doc.path}: {exc.message}", param=doc.path) from None


@cache
def load_limit_policy() -> LimitPolicy:
    """The shipped limit policy, `pocketbank/data/limits.toml`."""
    return limit_policy_from_text(_read_data(LIMITS_FILE))


# --- passwords --------------------------------------------------------------------------------------------


def common_passwords_from_text(text: str, file: str = COMMON_PASSWORDS_FILE) -> frozenset[str]:
    """One password per line, lowercased; blank lines and lines starting with '#' are skipped."""
    words = frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    )
    if not words:
        raise InvalidRulesData(f"{file}: no passwords in the blocklist")
    return words


@cache
def load_common_passwords() -> frozenset[str]:
    """The 10,000 most common passwords (`pocketbank/data/common_passwords.txt`), for `check_password`."""
    return common_passwords_from_text(_read_data(COMMON_PASSWORDS_FILE))
