"""The text array literals the PostgreSQL ledger sends: PostgreSQL must read back exactly the values encoded."""

from __future__ import annotations

import psycopg
import pytest

from pocketbank.domain.ledger import U128_MAX
from pocketbank.storage import pg_arrays as arr
from pocketbank.storage.ledger_postgres import libpq_url

INT8_MIN, INT8_MAX = -(2**63), 2**63 - 1


@pytest.fixture
def conn(pg_url: str) -> psycopg.Connection[tuple[object, ...]]:
    with psycopg.connect(libpq_url(pg_url)) as c:
        yield c


def read(conn: psycopg.Connection[tuple[object, ...]], literal: str, sql_type: str) -> list[object]:
    row = conn.execute(f"SELECT %s::{sql_type}[]", [literal]).fetchone()
    assert row is not None
    return list(row[0])  # type: ignore[call-overload]


def test_ids_are_16_byte_big_endian(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    values = [1, 255, 2**64, 2**127 + 12345, U128_MAX - 1, 0, U128_MAX]
    assert read(conn, arr.ids(values), "bytea") == [v.to_bytes(16, "big") for v in values]
    assert read(conn, arr.ids([44]), "bytea") == [(44).to_bytes(16, "big")]


def test_a_thousand_ids_each_come_back_in_place(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    # Every element boundary of a long array: the literal is made in one piece, then cut at each element.
    values = [(k * 0x9E3779B97F4A7C15_F39CC0605CEDC834) % (U128_MAX + 1) for k in range(1000)]
    assert read(conn, arr.ids(values), "bytea") == [v.to_bytes(16, "big") for v in values]
    high = [v >> 64 for v in values]
    assert read(conn, arr.user_data(8)(high), "bytea") == [v.to_bytes(8, "big") if v else b"" for v in high]


def test_zero_pending_id_is_null(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    assert read(conn, arr.ids_or_null([0, 7, 0]), "bytea") == [None, (7).to_bytes(16, "big"), None]


@pytest.mark.parametrize("width", [16, 8])
def test_user_data_is_fixed_width_and_zero_is_empty(conn: psycopg.Connection[tuple[object, ...]], width: int) -> None:
    values = [0, 1, 2 ** (8 * width) - 1, 0]
    assert read(conn, arr.user_data(width)(values), "bytea") == [b"", *(v.to_bytes(width) for v in values[1:3]), b""]
    assert read(conn, arr.user_data(width)([0, 0, 0]), "bytea") == [b"", b"", b""]
    assert read(conn, arr.user_data(width)([]), "bytea") == []


def test_byte_strings_round_trip(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    values = [b"", b'\x00\\"{},', bytes(range(256))]
    assert read(conn, arr.byteas(values), "bytea") == values


def test_integers_to_the_ends_of_int8(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    values = [INT8_MIN, -1, 0, 1, INT8_MAX]
    assert read(conn, arr.ints(values), "int8") == values


def test_empty_arrays(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    assert read(conn, arr.ints([]), "int8") == []
    assert read(conn, arr.ids([]), "bytea") == []


def test_row_addresses_round_trip(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    values = ["(0,1)", "(4294967295,65535)", "(12,3)"]
    assert [str(v) for v in read(conn, arr.tids(values), "tid")] == values
    assert read(conn, arr.tids([]), "tid") == []


@pytest.mark.parametrize("bad", ["x", "(1,2", '(0,1)","(2,3)', "", "(1,2),(3,4)", "(-1,2)"])
def test_anything_but_a_row_address_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="row address"):
        arr.tids(["(0,1)", bad])


def test_result_codes_stay_strings(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    codes = ["exceeds_credits", "exists_with_different_user_data_128", "null"]
    assert read(conn, arr.codes(codes), "text") == codes


@pytest.mark.parametrize("bad", ["", "Exceeds", "a,b", 'a"b', "a\\b", "a b", "{x}"])
def test_anything_but_a_result_code_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a result code"):
        arr.codes(["ok", bad])


@pytest.mark.parametrize("bad", [1.5, "1", "1); DROP TABLE ledger_accounts; --", None])
def test_anything_but_an_integer_is_refused(bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        arr.ints([1, bad])  # type: ignore[list-item]
    # ids_or_null reads any false value as "no id" (NULL), None included; the others refuse it.
    user_data = arr.user_data(16), arr.user_data(8)
    for encode in (arr.ids, *user_data) if bad is None else (arr.ids, arr.ids_or_null, *user_data):
        with pytest.raises(ValueError, match="unsigned integer"):
            encode([1, bad])  # type: ignore[list-item]


@pytest.mark.parametrize("bad", [-1, U128_MAX + 1])
def test_an_id_outside_128_bits_is_refused(bad: int) -> None:
    for encode in (arr.ids, arr.ids_or_null):
        with pytest.raises(ValueError, match="128-bit unsigned integer"):
            encode([1, bad])
    with pytest.raises(ValueError, match="64-bit unsigned integer"):
        arr.user_data(8)([2**64])


def test_any_text_comes_back_exactly(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """What a memo or a JSON document can hold: quotes, backslashes, braces, commas, spaces at either end, the word
    NULL, nothing at all, and any Unicode; None is NULL."""
    values: list[str | None] = [
        'say "hi"',
        "C:\\path\\",
        '\\"',
        "{a,b}",
        " padded ",
        "NULL",
        "",
        None,
        "房租 €5 😀",
        '{"k": "v\\n"}',
        ",",
    ]
    assert read(conn, arr.texts(values), "text") == values
    assert read(conn, arr.texts(values[:3]), "varchar(16)") == values[:3]
    assert read(conn, arr.texts([]), "text") == []


def test_nullable_integers_and_byte_strings(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    assert read(conn, arr.ints_or_null([INT8_MIN, None, 0, INT8_MAX]), "int8") == [INT8_MIN, None, 0, INT8_MAX]
    assert read(conn, arr.byteas_or_null([b"\x00\xff", None, b""]), "bytea") == [b"\x00\xff", None, b""]
    with pytest.raises(TypeError):
        arr.ints_or_null([1.5])  # type: ignore[list-item]
