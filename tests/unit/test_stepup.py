"""Behaviour of step-up dynamic linking: a proof made for one payment does not fit another."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pocketbank.domain.stepup import DOMAIN_TAG, binding_digest, binding_matches

BASE = ("cus_123", 500_000, "CNY", "6222020200112233445")


def test_digest_is_sha256_hex_of_the_documented_encoding() -> None:
    fields = [b"cus_123", b"500000", b"CNY", b"6222020200112233445"]
    expected = hashlib.sha256(DOMAIN_TAG + b"".join(len(f).to_bytes(4, "big") + f for f in fields)).hexdigest()
    assert binding_digest(*BASE) == expected
    assert len(expected) == 64


def test_digest_is_deterministic() -> None:
    assert binding_digest(*BASE) == binding_digest(*BASE)


@pytest.mark.parametrize(
    "other",
    [
        ("cus_124", 500_000, "CNY", "6222020200112233445"),  # another customer
        ("cus_123", 500_001, "CNY", "6222020200112233445"),  # one fen more
        ("cus_123", 50_000, "CNY", "6222020200112233445"),
        ("cus_123", 500_000, "USD", "6222020200112233445"),  # another currency
        ("cus_123", 500_000, "CNY", "6222020200112233446"),  # another payee
        ("cus_123", 500_000, "CNY", "6222020200112233445 "),  # no silent normalisation
    ],
)
def test_a_proof_for_one_payment_fails_for_another(other: tuple[str, int, str, str]) -> None:
    digest = binding_digest(*BASE)
    assert binding_digest(*other) != digest
    assert not binding_matches(digest, *other)
    assert binding_matches(digest, *BASE)


def test_field_boundaries_are_unambiguous() -> None:
    # With plain concatenation these would all encode as "ab" + "12" ...; length prefixes keep them apart.
    assert binding_digest("ab", 12, "CNY", "x") != binding_digest("a", 12, "CNY", "bx")
    assert binding_digest("cus1", 23, "CNY", "p") != binding_digest("cus", 123, "CNY", "p")


@given(
    st.tuples(st.text(min_size=1), st.integers(1, 10**15), st.sampled_from(["CNY", "USD"]), st.text(min_size=1)),
    st.tuples(st.text(min_size=1), st.integers(1, 10**15), st.sampled_from(["CNY", "USD"]), st.text(min_size=1)),
)
def test_different_payments_have_different_digests(a: tuple[str, int, str, str], b: tuple[str, int, str, str]) -> None:
    assert (binding_digest(*a) == binding_digest(*b)) == (a == b)


@pytest.mark.parametrize(
    "args",
    [
        ("", 1, "CNY", "p"),
        ("c", 0, "CNY", "p"),
        ("c", -5, "CNY", "p"),
        ("c", True, "CNY", "p"),
        ("c", 1.0, "CNY", "p"),
        ("c", 1, "cny", "p"),
        ("c", 1, "CNY", ""),
    ],
)
def test_malformed_inputs_are_refused(args: tuple[object, ...]) -> None:
    with pytest.raises(ValueError):
        binding_digest(*args)  # type: ignore[arg-type]


def test_matching_a_non_ascii_or_non_string_digest_is_false_not_an_error() -> None:
    assert not binding_matches("ü" * 64, *BASE)
    assert not binding_matches(None, *BASE)  # type: ignore[arg-type]
