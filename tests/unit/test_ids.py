"""Public ids: ``parse(kind, format(kind, n)) == n`` for every 0 < n < 2**128, and ``parse`` refuses anything else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pocketbank.domain.ids import IdKind, format_id, parse_id
from pocketbank.errors import InvalidId

ids = st.integers(min_value=1, max_value=2**128 - 1)


@given(kind=st.sampled_from(IdKind), n=ids)
def test_an_id_reads_back_as_itself(kind: IdKind, n: int) -> None:
    text = format_id(kind, n)
    assert text.startswith(kind.value + "_") and len(text) == len(kind.value) + 27
    assert parse_id(kind, text) == n
    assert parse_id(kind, text.lower().replace(kind.value.lower(), kind.value, 1)) == n  # case-blind digits


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (1, "acct_00000000000000000000000001"),
        (31, "acct_0000000000000000000000000Z"),
        (32, "acct_00000000000000000000000010"),
        (2**128 - 1, "acct_7ZZZZZZZZZZZZZZZZZZZZZZZZZ"),
        (0x0123456789ABCDEF0123456789ABCDEF, "acct_014D2PF2DBSQQG28T5CY4TQKFF"),
    ],
)
def test_the_encoding_never_changes(n: int, text: str) -> None:
    """Ids already handed out (in customers' apps, statements, partners' systems) must keep naming the same thing."""
    assert format_id(IdKind.ACCOUNT, n) == text
    assert parse_id(IdKind.ACCOUNT, text) == n


@given(a=ids, b=ids)
def test_ids_sort_as_their_numbers(a: int, b: int) -> None:
    assert (format_id(IdKind.TRANSFER, a) < format_id(IdKind.TRANSFER, b)) == (a < b)


@pytest.mark.parametrize("n", [0, -1, 2**128])
def test_numbers_outside_128_bits_have_no_id(n: int) -> None:
    with pytest.raises(InvalidId):
        format_id(IdKind.ACCOUNT, n)


@pytest.mark.parametrize(
    "text",
    [
        "acct_" + "0" * 26,  # zero
        "acct_" + "Z" * 26,  # 130 bits: more than 128
        "acct_" + "1" * 25,  # too short
        "acct_" + "1" * 27,  # too long
        "acct_" + "1" * 25 + "U",  # not a Crockford digit (nor I, L, O)
        "acct_" + "1" * 25 + "I",
        "acct_" + "1" * 25 + "=",
        "tr_" + "1" * 26,  # another kind's id
        "acct" + "1" * 26,  # no separator
        "",
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(InvalidId):
        parse_id(IdKind.ACCOUNT, text)
