"""Behaviour of the NIST SP 800-63B password policy and the shipped blocklist."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pocketbank.domain.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    PasswordProblem,
    check_password,
    normalise_password,
)
from pocketbank.errors import WeakPassword
from pocketbank.integrations.rules import common_passwords_from_text, load_common_passwords

COMMON = load_common_passwords()
SMALL = frozenset({"password", "12345678", "iloveyou", "qwertyuiop"})


def reason_for(password: str, *, common: frozenset[str] = COMMON, context: tuple[str, ...] = ()) -> str | None:
    try:
        check_password(password, common=common, context=context)
    except WeakPassword as exc:
        assert exc.code == "weak_password"
        assert exc.param == "password"
        return exc.reason
    return None


# --- the blocklist ------------------------------------------------------------------------------------------


def test_shipped_blocklist_has_the_10000_most_common_passwords_in_lowercase() -> None:
    assert len(COMMON) == 10_000
    assert {"123456", "password", "12345678", "qwerty", "iloveyou", "dragon"} <= COMMON
    assert all(word == word.lower() and word == word.strip() and word for word in COMMON)
    assert not any(word.startswith("#") for word in COMMON)


def test_blocklist_loader_skips_comments_and_blank_lines() -> None:
    assert common_passwords_from_text("# header\n\nAbc\n  # indented comment\nxyz\n") == frozenset({"abc", "xyz"})


# --- what is refused, and why -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("password", PasswordProblem.COMMON),
        ("12345678", PasswordProblem.COMMON),
        ("PASSWORD", PasswordProblem.COMMON),  # case-insensitive
        ("Password", PasswordProblem.COMMON),
        ("iloveyou", PasswordProblem.COMMON),
        ("qwertyuiop", PasswordProblem.COMMON),
        ("ｐａｓｓｗｏｒｄ", PasswordProblem.COMMON),  # full-width letters fold to "password" under NFKC
        ("", PasswordProblem.TOO_SHORT),
        ("short", PasswordProblem.TOO_SHORT),
        ("7chars!", PasswordProblem.TOO_SHORT),
        ("x" * (MAX_LENGTH + 1), PasswordProblem.TOO_LONG),
        ("zzzzzzzzzzzz", PasswordProblem.REPETITIVE),
        ("        ", PasswordProblem.REPETITIVE),  # eight spaces
        ("abcdefghijk", PasswordProblem.REPETITIVE),
        ("876543210", PasswordProblem.REPETITIVE),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password: str, reason: PasswordProblem) -> None:
    assert reason_for(password) == reason.value


@pytest.mark.parametrize(
    ("password", "context"),
    [
        ("13800138000", ("+8613800138000",)),  # the stored phone, typed without +86
        ("my13800138000pw", ("+8613800138000",)),
        ("zhangwei-rocks-1990", ("Zhang Wei",)),  # name joined up
        ("i am Zhang the great", ("Zhang Wei",)),  # one part of the name, any case
        ("xxalice.smithxx", ("alice.smith",)),
        ("xxALICESMITHxx", ("alice.smith",)),  # the word with punctuation removed
    ],
)
def test_passwords_containing_personal_information_are_refused(password: str, context: tuple[str, ...]) -> None:
    assert reason_for(password, context=context) == PasswordProblem.CONTAINS_PERSONAL_INFO.value


def test_short_context_words_are_ignored() -> None:
    # A two-character Chinese name would refuse countless passwords by accident.
    assert reason_for("李明 likes long walks", context=("李明", "Li")) is None


def test_context_words_are_matched_whole_not_by_fragment() -> None:
    # "alice.smith" is one word: "alice-smith" neither contains it nor its letters-only form "alicesmith".
    assert reason_for("hello-alice-smith!", context=("alice.smith",)) is None


# --- what is accepted ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "我的密码是一句很长很长的话哦",  # 14 CJK characters
        "Zwölf Boxkämpfer jagen Viktor",
        "trombone-ledger-7",
        "x" * 9 + "y",  # no composition rules
        "a" * (MAX_LENGTH - 1) + "b",  # exactly the maximum
        "abcdefgz",  # nearly a run, but not one
    ],
)
def test_strong_passwords_are_accepted(password: str) -> None:
    assert reason_for(password) is None


def test_a_20_character_unicode_passphrase_is_accepted() -> None:
    passphrase = "月光下的猫咪🐱在屋顶上跳舞 ☾ 真的很美"
    assert len(normalise_password(passphrase)) == 20
    check_password(passphrase, common=COMMON, context=("+8613800138000", "王小明"))


def test_length_counts_code_points_after_nfkc() -> None:
    # Seven precomposed characters + the NFKC form of a ligature "ﬁ" (which becomes two letters "fi").
    assert reason_for("éèêëēė" + "ﬁ", common=SMALL) is None  # 6 + 2 = 8 code points after NFKC
    assert reason_for("éèêëēė" + "f", common=SMALL) == PasswordProblem.TOO_SHORT.value
    # A decomposed 'e' + combining accent counts as one code point after NFKC composes it.
    assert reason_for("e\u0301" * 7, common=SMALL) == PasswordProblem.TOO_SHORT.value


def test_normalise_password_is_nfkc_and_idempotent() -> None:
    assert normalise_password("ｐａｓｓ") == "pass"
    assert normalise_password("e\u0301") == "\u00e9"


@given(st.text(min_size=1, max_size=40))
def test_normalise_password_is_idempotent(text: str) -> None:
    once = normalise_password(text)
    assert normalise_password(once) == once


@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=0, max_size=MIN_LENGTH * 2))
def test_policy_never_accepts_a_short_or_common_password(text: str) -> None:
    reason = reason_for(text, common=SMALL)
    if len(normalise_password(text)) < MIN_LENGTH:
        assert reason == PasswordProblem.TOO_SHORT.value
    if normalise_password(text).casefold() in SMALL:
        assert reason is not None


def test_non_string_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        check_password(12345678, common=SMALL)  # type: ignore[arg-type]
