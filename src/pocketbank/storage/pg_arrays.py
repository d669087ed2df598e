"""PostgreSQL array literals for a batch's columns, built with ``str.join`` instead of psycopg's array dumper.

A batch goes to PostgreSQL as a few set-based statements over ``unnest`` of one array per column. psycopg's binary
array dumper walks each list in Python, element by element, with a fixed cost per array on top: for a group-commit
batch of thirty transfers (some thirty arrays) that was the biggest single cost in the writer thread, more than the
state machine. The text form of the same array is one ``join`` over formatted numbers, done in C, and the server
parses it as fast as it would the binary form. The ledger's values are integers (ids, amounts, flags, timestamps)
and its fixed result codes, so they need no quoting or escaping, and the formats enforce it: an integer format
refuses a float or a string, and a result code must match ``[a-z0-9_]+``. Free text (``texts``, for the application
rows of ``storage.bulk``) is quoted element by element, with the two characters a quoted element cannot hold as they
are, ``\\`` and ``"``, escaped.

Ids are 128-bit integers stored as 16-byte big-endian ``bytea`` (so byte order is numeric order): the literal of
each is ``\\x`` and 32 hex digits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from operator import attrgetter
from typing import Any

_CODE = re.compile(r"[a-z0-9_]+")

Encoder = Callable[[Iterable[Any]], str]

_INT = int.__repr__  # refuses a float or a string (a TypeError), unlike ``str``; and gives 1, not True, for a bool


def ints(values: Iterable[int]) -> str:
    """An ``int2[]``/``int4[]``/``int8[]`` literal (the cast in the SQL names which)."""
    return "{" + ",".join(map(_INT, values)) + "}"


def _fixed_width(values: Iterable[int], width: int) -> str:
    """A ``bytea[]`` literal of unsigned integers as ``width``-byte big-endian strings.

    All the hex is made by one ``bytes.hex`` over the concatenated values, with a comma between elements, and one
    ``replace`` then puts each element's ``\\x`` after its comma: three C calls for the whole array, where formatting
    each element with ``"{:032x}".format`` had cost three times as much (a batch of a thousand transfers formats some
    twenty thousand of them). ``to_bytes`` refuses anything else: a negative or too large value, a float, a string.
    """
    try:
        packed = b"".join([v.to_bytes(width) for v in values])
    except (AttributeError, OverflowError) as exc:
        raise ValueError(f"not a {width * 8}-bit unsigned integer: {exc}") from None
    if not packed:
        return "{}"
    return "{\\\\x" + packed.hex(",", -width).replace(",", ",\\\\x") + "}"


def ids(values: Iterable[int]) -> str:
    """A ``bytea[]`` literal of 128-bit ids, 16 bytes each."""
    return _fixed_width(values, 16)


def ids_or_null(values: Iterable[int]) -> str:
    """Like ``ids``, with 0 (no id) as NULL: a transfer's ``pending_id``."""
    try:
        return "{" + ",".join(["\\\\x" + v.to_bytes(16).hex() if v else "NULL" for v in values]) + "}"
    except (AttributeError, OverflowError) as exc:
        raise ValueError(f"not a 128-bit unsigned integer: {exc}") from None


def user_data(width: int) -> Encoder:
    """The encoder of a ``bytea[]`` literal of ``width``-byte user data, with 0 as an empty byte string, as
    ``ledger_codec.user_data_bytes`` writes it. Usually every value is 0: that array is one ``join``."""

    def encode(values: Iterable[int]) -> str:
        items = list(values)
        if items.count(0) == len(items):
            return "{" + ",".join(["\\\\x"] * len(items)) + "}"
        try:
            return "{" + ",".join(["\\\\x" if v == 0 else "\\\\x" + v.to_bytes(width).hex() for v in items]) + "}"
        except (AttributeError, OverflowError) as exc:
            raise ValueError(f"not a {width * 8}-bit unsigned integer: {exc}") from None

    return encode


_TIDS = re.compile(r'\{"\(\d+,\d+\)"(?:,"\(\d+,\d+\)")*\}')


def tids(values: Sequence[str]) -> str:
    """A ``tid[]`` literal of row addresses as PostgreSQL printed them, ``(block,offset)``: quoted for their comma.

    They come from the server, but are checked all the same: one match over the whole literal, and its count.
    """
    if not values:
        return "{}"
    literal = '{"' + '","'.join(values) + '"}'
    if not _TIDS.fullmatch(literal) or literal.count("(") != len(values):
        raise ValueError("not a row address (block,offset)")
    return literal


def byteas(values: Iterable[bytes]) -> str:
    """A ``bytea[]`` literal of byte strings (ids already encoded)."""
    return "{" + ",".join(["\\\\x" + v.hex() for v in values]) + "}"


def texts(values: Iterable[str | None]) -> str:
    """A ``text[]``/``varchar[]`` literal of any strings, None as NULL: each element quoted, its ``\\`` and ``"``
    escaped, which is all a quoted element needs (``storage.bulk``'s memos, JSON, names)."""
    return "{" + ",".join(["NULL" if v is None else '"' + _escape(v) + '"' for v in values]) + "}"


def _escape(value: str) -> str:
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    return value.replace('"', '\\"') if '"' in value else value


def ints_or_null(values: Iterable[int | None]) -> str:
    """Like ``ints``, with None as NULL."""
    return "{" + ",".join(["NULL" if v is None else _INT(v) for v in values]) + "}"


def byteas_or_null(values: Iterable[bytes | None]) -> str:
    """Like ``byteas``, with None as NULL."""
    return "{" + ",".join(["NULL" if v is None else "\\\\x" + v.hex() for v in values]) + "}"


def codes(values: Iterable[str]) -> str:
    """A ``text[]`` literal of result codes (``[a-z0-9_]+`` only: checked, so never in need of escaping)."""
    items = list(values)
    for v in items:
        if not _CODE.fullmatch(v):
            raise ValueError(f"not a result code: {v!r}")
    return "{" + ",".join([f'"{v}"' for v in items]) + "}"  # quoted: a code is never read as NULL


def spec(*pairs: tuple[str, Encoder]) -> list[tuple[Callable[[Any], Any], Encoder]]:
    """A table's columns for ``columns``: (attribute of the record, encoder of the column), in SQL order."""
    return [(attrgetter(name), encode) for name, encode in pairs]


def columns(records: Sequence[Any], columns_spec: list[tuple[Callable[[Any], Any], Encoder]]) -> list[str]:
    """One array literal per column of ``records`` (``attrgetter`` over the records runs in C)."""
    return [encode(map(get, records)) for get, encode in columns_spec]
