"""Password policy after NIST SP 800-63B (section 5.1.1.2, memorized secrets): length and a blocklist, nothing else.

What NIST asks, and what `check_password` does:

* **Length, not composition.** At least 8 and at most 128 characters, counted as Unicode code points after
  NFKC normalisation. No "one upper, one digit, one symbol" rules: they push people to `Password1!`
  and add no strength. Every Unicode character is allowed, spaces included, so a long passphrase in any
  language ("correct horse battery staple", "我的密码是一句很长的话") is welcome.
* **A blocklist.** Refuse passwords that are among the most common (`common`, compared case-insensitively;
  the bank ships the 10,000 most common, loaded by `integrations.rules.load_common_passwords`), that are
  one character repeated or a straight run such as `abcdefgh` / `87654321`, or that contain a word
  specific to this customer (`context`: their mobile number, name, user name). Context words shorter
  than 4 characters are ignored, because they would refuse half of all passwords by accident.
* **The refusal says why** (`WeakPassword.reason`: `too_short`, `too_long`, `common`, `repetitive`,
  `contains_personal_info`) so the app can help the person choose better, as NIST recommends.

Normalisation. The same passphrase typed on two keyboards can arrive as different code points (a full-width
`Ａ` or a precomposed `é` versus `e` + combining accent). `normalise_password` applies NFKC, and the
bank hashes the normalised form, so the customer can log in from any device. Call it before hashing, and
check and hash the same normalised value. The policy is a pure function: the blocklist is passed in.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from enum import StrEnum
from itertools import pairwise
from typing import Final

from pocketbank.errors import WeakPassword

MIN_LENGTH: Final = 8
MAX_LENGTH: Final = 128
MIN_CONTEXT_WORD: Final = 4
# Mainland numbers are stored as +86XXXXXXXXXXX but typed without it; both forms count as the customer's.
_MAINLAND_PREFIX: Final = "+86"


class PasswordProblem(StrEnum):
    """Why a password was refused: the stable `WeakPassword.reason` values."""

    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    COMMON = "common"
    REPETITIVE = "repetitive"
    CONTAINS_PERSONAL_INFO = "contains_personal_info"


def normalise_password(password: str) -> str:
    """The NFKC form of a password: what the policy checks and what gets hashed."""
    return unicodedata.normalize("NFKC", password)


def _refuse(problem: PasswordProblem, message: str) -> WeakPassword:
    return WeakPassword(message, reason=problem.value)


def _is_repetitive_or_sequential(text: str) -> bool:
    """One code point repeated, or each code point one above (or one below) the previous one."""
    steps = {ord(b) - ord(a) for a, b in pairwise(text)}
    return steps in ({0}, {1}, {-1})


def _context_variants(words: Iterable[str]) -> set[str]:
    """Each context word, its whitespace-separated parts, and its letters and digits alone, all casefolded."""
    variants: set[str] = set()
    for word in words:
        folded = normalise_password(word).strip().casefold()
        candidates = {folded, *folded.split(), "".join(ch for ch in folded if ch.isalnum())}
        if folded.startswith(_MAINLAND_PREFIX):
            candidates.add(folded[len(_MAINLAND_PREFIX) :])
        variants |= {c for c in candidates if len(c) >= MIN_CONTEXT_WORD}
    return variants


def check_password(password: str, *, common: frozenset[str], context: Sequence[str] = ()) -> None:
    """Raise `WeakPassword` (with a `reason`) unless `password` meets the policy in the module docstring.

    `common` holds lowercase blocklisted passwords; `context` holds words about this customer (phone, name).
    """
    if not isinstance(password, str):
        raise TypeError("password must be a str")
    text = normalise_password(password)
    length = len(text)
    if length < MIN_LENGTH:
        raise _refuse(PasswordProblem.TOO_SHORT, f"use at least {MIN_LENGTH} characters; a phrase is easiest")
    if length > MAX_LENGTH:
        raise _refuse(PasswordProblem.TOO_LONG, f"use at most {MAX_LENGTH} characters")
    folded = text.casefold()
    if folded in common or text.lower() in common:
        raise _refuse(PasswordProblem.COMMON, "this is one of the most common passwords; choose another")
    if _is_repetitive_or_sequential(folded):
        raise _refuse(PasswordProblem.REPETITIVE, "avoid repeated characters and runs like 'abcd' or '1234'")
    for word in _context_variants(context):
        if word in folded:
            raise _refuse(
                PasswordProblem.CONTAINS_PERSONAL_INFO, "do not use your name or phone number in your password"
            )
