"""Languages: the zh_CN catalogue compiled in memory at start-up, money and date formatting, error texts by code.

Message ids are the English texts, so English needs no catalogue. ``messages.po`` is read with Babel and written as
a .mo into memory (no binary .mo is kept in the source tree).
"""

from __future__ import annotations

import gettext as gettext_module
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import (
    DateTimePattern,
    format_datetime,
    get_date_format,
    get_datetime_format,
    get_time_format,
    parse_pattern,
)
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import get_decimal_symbol, get_group_symbol
from babel.support import NullTranslations, Translations

from pocketbank.domain.clock import NS_PER_SECOND
from pocketbank.domain.money import Money, default_registry
from pocketbank.errors import PocketBankError

LOCALES: Final = ("en", "zh_CN")
DEFAULT_LOCALE: Final = "en"
TIMEZONE: Final = ZoneInfo("Asia/Shanghai")
LOCALE_DIR: Final = Path(__file__).parent / "locales"


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message


@cache
def translations(locale: str) -> gettext_module.NullTranslations:
    if locale == DEFAULT_LOCALE:
        return NullTranslations()
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=locale)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def pick_locale(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LOCALES:
        return str(cookie)
    if accept_language and accept_language.lower().lstrip().startswith("zh"):
        return "zh_CN"
    return DEFAULT_LOCALE


def money(minor: int, currency: str, locale: str) -> str:
    fast = _money_format(currency, locale) if type(minor) is int and abs(minor) < _PROBE else None
    return fast.format(minor) if fast is not None else Money(minor, default_registry().get(currency)).format(locale)


# Babel takes ~40 us per amount (the account page shows 40), so the text around the digits is taken from Babel once
# per currency and language, and only the digits are written per amount. It is used only when it gives Babel's exact
# text for a set of check amounts (so a locale with other grouping or digits keeps Babel's formatting).
_PROBE: Final = 10**15
_CHECKS: Final = (0, 1, -1, 5, -5, 99, 100, -100, 12_345, -12_345, 1_000_000, -987_654_321, 123_456_789_012_345)


@dataclass(frozen=True, slots=True)
class _MoneyFormat:
    scale: int
    group: str
    decimal: str
    affixes: tuple[str, str, str, str]  # positive prefix and suffix, negative prefix and suffix

    def digits(self, minor: int) -> str:
        whole, frac = divmod(abs(minor), 10**self.scale)
        text = f"{whole:,}".replace(",", self.group)
        return f"{text}{self.decimal}{frac:0{self.scale}d}" if self.scale else text

    def format(self, minor: int) -> str:
        pos_prefix, pos_suffix, neg_prefix, neg_suffix = self.affixes
        if minor < 0:
            return neg_prefix + self.digits(minor) + neg_suffix
        return pos_prefix + self.digits(minor) + pos_suffix


@cache
def _money_format(currency: str, locale: str) -> _MoneyFormat | None:
    try:
        asset = default_registry().get(currency)
        probes = {minor: Money(minor, asset).format(locale) for minor in (_PROBE - 1, 1 - _PROBE)}
    except PocketBankError:
        return None  # an unknown currency or language: the slow path raises the error
    babel_locale = Locale.parse(locale)
    group, decimal = get_group_symbol(locale=babel_locale), get_decimal_symbol(locale=babel_locale)
    affixes: list[str] = []
    for minor, text in probes.items():
        digits = _MoneyFormat(asset.scale, group, decimal, ("", "", "", "")).digits(minor)
        if text.count(digits) != 1:
            return None
        affixes.extend(text.split(digits))
    fast = _MoneyFormat(asset.scale, group, decimal, (affixes[0], affixes[1], affixes[2], affixes[3]))
    if any(fast.format(m) != Money(m, asset).format(locale) for m in _CHECKS):
        return None
    return fast


def when(ns: int | None, locale: str, fmt: str = "medium") -> str:
    if ns is None:
        return ""
    at = datetime.fromtimestamp(ns / NS_PER_SECOND, tz=UTC)
    if fmt not in _NAMED_FORMATS:
        return str(format_datetime(at, format=fmt, tzinfo=TIMEZONE, locale=locale))
    # What format_datetime does for a named format, with the locale's patterns looked up once (half the time).
    babel_locale, combined, time_pattern, date_pattern = _datetime_patterns(locale, fmt)
    local = at.astimezone(TIMEZONE)
    day = local.date()
    time_text = time_pattern.apply(local.timetz(), babel_locale, reference_date=day)
    return combined.replace("{0}", time_text).replace("{1}", date_pattern.apply(day, babel_locale))


_NAMED_FORMATS: Final = ("full", "long", "medium", "short")


@cache
def _datetime_patterns(locale: str, fmt: str) -> tuple[Locale, str, DateTimePattern, DateTimePattern]:
    babel_locale = Locale.parse(locale)
    combined = str(get_datetime_format(fmt, locale=babel_locale)).replace("'", "")  # type: ignore[arg-type]
    time_pattern = parse_pattern(get_time_format(fmt, locale=babel_locale))  # type: ignore[arg-type]
    return babel_locale, combined, time_pattern, parse_pattern(get_date_format(fmt, locale=babel_locale))  # type: ignore[arg-type]


# Customer-facing text for every error code the services raise (English ids; zh_CN in messages.po).
ERROR_TEXT: Final[dict[str, str]] = {
    "unknown_asset": N_("This currency is not supported."),
    "invalid_asset": N_("This currency is not supported."),
    "asset_conflict": N_("This currency is not supported."),
    "asset_mismatch": N_("The amounts are in different currencies."),
    "invalid_amount": N_("Enter an amount like 100 or 12.50."),
    "amount_too_precise": N_("Use at most two decimals (fen)."),
    "amount_overflow": N_("This amount is too large."),
    "unsupported_locale": N_("This language is not supported."),
    "invalid_id": N_("This number is not valid."),
    "not_found": N_("We could not find that."),
    "conflict": N_("That cannot be done right now."),
    "idempotency_key_in_use": N_("This request is already being processed. Please wait."),
    "idempotency_key_reused": N_("This form was already used for a different request. Start again."),
    "idempotency_key_required": N_("Start again from the form."),
    "invalid_phone_number": N_("Enter a mainland mobile number of 11 digits."),
    "invalid_id_document": N_("This identity card number is not valid."),
    "invalid_name": N_("Enter your name as on your identity card."),
    "weak_password": N_("Choose a longer password that is hard to guess (at least 8 characters)."),
    "pricing_unavailable": N_("This service is not offered on this channel."),
    "limit_exceeded": N_("This amount is above your limit."),
    "limits_unavailable": N_("Transfers in this currency are not available."),
    "invalid_rules_data": N_("Something went wrong on our side."),
    "unauthenticated": N_("Please log in."),
    "forbidden": N_("You are not allowed to do this."),
    "rate_limited": N_("Too many attempts. Please wait a moment and try again."),
    "invalid_credentials": N_("The mobile number or password is not right."),
    "account_locked": N_("Too many failed logins. Try again later."),
    "session_expired": N_("You were logged out after 5 minutes without activity."),
    "invalid_code": N_("The code is wrong or has expired."),
    "step_up_failed": N_("The code is wrong or has expired."),
    "already_registered": N_("This is already registered. Log in instead."),
    "method_not_enrolled": N_("This method is not set up."),
    "unsupported_currency": N_("This currency is not supported."),
    "account_not_empty": N_("Move the money out of the account first."),
    "account_closed": N_("The account is closed."),
    "currency_mismatch": N_("Both accounts must hold the same currency."),
    "insufficient_funds": N_("There is not enough money in the account."),
    "same_account": N_("Choose a different account."),
    "transfer_not_cancellable": N_("This transfer can no longer be cancelled."),
    "transfer_not_reversible": N_("This transfer cannot be reversed."),
    "step_up_required": N_("Confirm with the SMS code."),
    "invalid_parameter": N_("Check what you entered."),
    "payee_cooling_off": N_("New payees can receive only limited amounts for the first 12 hours."),
    "csrf": N_("This form has expired. Go back, reload the page and try again."),
    "internal_error": N_("Something went wrong on our side."),
}
GENERIC_ERROR: Final = N_("That did not work. Please check and try again.")


def error_text(code: str) -> str:
    """The (untranslated) customer text for an error code."""
    return ERROR_TEXT.get(code, GENERIC_ERROR)


def field_errors(
    exc: PocketBankError, fields: tuple[str, ...], default: str, aliases: dict[str, str] | None = None
) -> dict[str, str]:
    """``{form field: error code}``: the service's ``param`` mapped to the form field that caused it."""
    param = (aliases or {}).get(exc.param or "", exc.param or "")
    return {param if param in fields else default: exc.code}
