"""Customers: who they are (mobile number, identity document, name), what they may hold, and their status.

**Mobile numbers.** The mobile number is the customer's login and the channel for one-time codes, so it is
stored in one canonical form, E.164 (`+` country code, national number, no spaces): `normalise_phone`
accepts

* a mainland number in its everyday 11-digit form `1[3-9]XXXXXXXXX`, stored as `+86` followed by it; and
* any international number in E.164 form (`+` then 8-15 digits), checked against the numbering plan of its
  country with `phonenumbers` and accepted only when it is a *mobile* number (a landline cannot receive an
  SMS code). A `+86` number follows the mainland rule, so `13800138000` and `+8613800138000` are the
  same customer whichever way they are typed.

ASCII spaces and hyphens are dropped before checking ("138 0013 8000"); anything else (letters, a leading
`00`, full-width digits) is refused rather than guessed at: a wrong login number locks a customer out.

**Identity documents.** `IdDocument` holds the kind and the canonical number. A PRC resident identity card
number has 18 characters: a 6-digit region code, the birth date `YYYYMMDD`, a 3-digit sequence and an ISO
7064 MOD 11-2 check character that may be `X` (stored uppercase). We check length, format, birth date and
check character with `stdnum.cn.ric`; we do NOT look the region code up, because that reads a data file
(I/O has no place in the domain) and retired region codes stay valid on old cards. A passport number is
5-20 ASCII letters and digits, stored uppercase. Constructing an `IdDocument` normalises and validates, so
an invalid one cannot exist.

**Names.** 1-64 characters after stripping surrounding whitespace, and no control characters (they hide
text in logs and on statements). Any script is allowed.

**Account classes (PBoC Yinfa [2016] No. 261, [2018] No. 16).** A class I account is a full account,
opened after a face-to-face identity check, one per person per bank, with no limits. Class II and III
accounts are opened remotely and bound to the holder's own class I account; transfers to and from that
bound account are unlimited, but outflows to anyone else are capped (`ClassLimits`; class III also caps
the balance). A remote sign-up therefore gets class II (`REMOTE_SIGNUP_CLASS`) until verified in person.
The cap amounts are configuration (`data/limits.toml`), read into `limits.LimitPolicy`.

**Status.** `pending_verification` → `active` ↔ `locked` → `closed`; `closed` is final.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Final

import phonenumbers
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from pocketbank.errors import InvalidIdDocument, InvalidName, InvalidPhoneNumber

MAINLAND_COUNTRY_CODE: Final = "+86"
MAX_NAME_LENGTH: Final = 64

# [0-9] rather than \d: \d also matches other scripts' digits, which no phone network dials.
_MAINLAND_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_E164 = re.compile(r"\+([0-9]{8,15})")
_PHONE_SEPARATORS = str.maketrans("", "", " -")
_PASSPORT = re.compile(r"[A-Z0-9]{5,20}")
_MOBILE_TYPES: Final = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)
# Zero-width (non-)joiners are format characters that some scripts (Persian, Indic) need inside names.
_ALLOWED_FORMAT_CHARS: Final = frozenset({"\u200c", "\u200d"})


def normalise_phone(raw: str) -> str:
    """The E.164 form of a mobile number (`"138 0013 8000"` → `"+8613800138000"`); `InvalidPhoneNumber` if not one."""
    if not isinstance(raw, str):
        raise InvalidPhoneNumber("phone number must be a string", param="phone")
    text = raw.strip().translate(_PHONE_SEPARATORS)
    if _MAINLAND_MOBILE.fullmatch(text):
        return MAINLAND_COUNTRY_CODE + text
    match = _E164.fullmatch(text)
    if match is None:
        raise InvalidPhoneNumber(
            "enter an 11-digit mainland mobile number or an international number starting with +", param="phone"
        )
    if text.startswith(MAINLAND_COUNTRY_CODE):
        national = text[len(MAINLAND_COUNTRY_CODE) :]
        if _MAINLAND_MOBILE.fullmatch(national):
            return text
        raise InvalidPhoneNumber("not a mainland mobile number", param="phone")
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise InvalidPhoneNumber("not a valid international phone number", param="phone") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber("not a valid international phone number", param="phone")
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise InvalidPhoneNumber("not a mobile number: one-time codes are sent by SMS", param="phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class IdKind(StrEnum):
    PRC_RESIDENT_ID = "prc_resident_id"
    PASSPORT = "passport"


def _normalise_prc_resident_id(raw: str) -> str:
    number = raw.strip().upper()
    if len(number) != 18 or not number[:17].isascii() or not number[:17].isdigit() or number[17] not in "0123456789X":
        raise InvalidIdDocument("a resident ID number has 17 digits and a final digit or X", param="id_number")
    if ric.calc_check_digit(number) != number[17]:
        raise InvalidIdDocument("resident ID number check digit does not match", param="id_number")
    try:
        ric.get_birth_date(number)  # pure: parses the YYYYMMDD part
    except ValidationError:
        raise InvalidIdDocument("resident ID number has an impossible birth date", param="id_number") from None
    return number


def _normalise_passport(raw: str) -> str:
    number = raw.strip().upper()
    if not _PASSPORT.fullmatch(number):
        raise InvalidIdDocument("a passport number is 5-20 letters and digits", param="id_number")
    return number


_ID_NORMALISERS: Final = {
    IdKind.PRC_RESIDENT_ID: _normalise_prc_resident_id,
    IdKind.PASSPORT: _normalise_passport,
}


@dataclass(frozen=True, slots=True)
class IdDocument:
    """An identity document; construction normalises `number` (strip, uppercase) and validates it."""

    kind: IdKind
    number: str

    def __post_init__(self) -> None:
        if not isinstance(self.kind, IdKind):
            raise InvalidIdDocument(f"unknown document kind {self.kind!r}", param="id_kind")
        if not isinstance(self.number, str):
            raise InvalidIdDocument("document number must be a string", param="id_number")
        object.__setattr__(self, "number", _ID_NORMALISERS[self.kind](self.number))

    def masked(self) -> str:
        """The number with all but the first 3 and last 2 characters hidden, for screens and logs."""
        return self.number[:3] + "*" * (len(self.number) - 5) + self.number[-2:]

    def __repr__(self) -> str:
        # Identity numbers are personal data: keep them out of logs and tracebacks by default.
        return f"IdDocument(kind={self.kind.value!r}, number={self.masked()!r})"


def normalise_name(raw: str) -> str:
    """A person's name stripped of surrounding whitespace; `InvalidName` if empty, over 64 chars or with controls."""
    if not isinstance(raw, str):
        raise InvalidName("name must be a string", param="name")
    name = raw.strip()
    if not name:
        raise InvalidName("name must not be empty", param="name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidName(f"name must be at most {MAX_NAME_LENGTH} characters", param="name")
    # Category Cc covers C0/C1 controls (tab, newline, NUL, ...); Cf covers invisible format marks such as
    # the right-to-left override, which can make a name display as something else.
    if any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in _ALLOWED_FORMAT_CHARS for ch in name):
        raise InvalidName("name must not contain control characters", param="name")
    return name


class AccountClass(IntEnum):
    """PBoC personal account class: I full, II and III remote-opened with capped outflows."""

    I = 1  # noqa: E741 - the regulator's own name for the class
    II = 2
    III = 3


REMOTE_SIGNUP_CLASS: Final = AccountClass.II


@dataclass(frozen=True, slots=True)
class ClassLimits:
    """Caps on one account class, in CNY minor units; None means no cap.

    `daily_out` and `yearly_out` bound outflows (payments, transfers, cash withdrawals) to accounts other than
    the holder's bound class I account; `max_balance` bounds the balance itself (class III only).
    """

    daily_out: int | None
    yearly_out: int | None
    max_balance: int | None

    def __post_init__(self) -> None:
        for name in ("daily_out", "yearly_out", "max_balance"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value < 0):
                raise ValueError(f"{name} must be a non-negative int or None, got {value!r}")


class CustomerStatus(StrEnum):
    PENDING_VERIFICATION = "pending_verification"  # signed up, identity not yet confirmed
    ACTIVE = "active"
    LOCKED = "locked"  # temporarily barred (failed logins, fraud hold); can be unlocked
    CLOSED = "closed"  # final
