"""Public ids: a type prefix and a 128-bit number, like Stripe's (``cus_…``, ``acct_…``, ``tr_…``).

Inside the bank an object's id is an unsigned 128-bit integer; ledger accounts and transfers use it directly. At the
edge it is written as ``<prefix>_<26 Crockford base32 characters>``: the prefix says what kind of object it is (so a
transfer id pasted where an account id belongs is refused, not looked up), and base32 keeps it short, case-blind
and free of look-alike letters. Ids made by ``integrations.ids.new_id`` start with a millisecond timestamp, so they
sort by creation time and cursor pagination can page by id.

Invariant: ``parse(kind, format(kind, n)) == n`` for every 0 < n < 2**128, and anything else ``parse`` refuses.
"""

from __future__ import annotations

from enum import StrEnum

from pocketbank.errors import InvalidId

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
_DECODE = {c: i for i, c in enumerate(_ALPHABET)} | {c.lower(): i for i, c in enumerate(_ALPHABET)}
_LENGTH = 26  # ceil(128 / 5)


class IdKind(StrEnum):
    CUSTOMER = "cus"
    ACCOUNT = "acct"
    TRANSFER = "tr"
    PAYEE = "pye"
    DEVICE = "dev"
    SESSION = "ses"
    CHALLENGE = "chl"
    STAFF = "stf"
    EVENT = "evt"
    REQUEST = "req"
    REMITTANCE = "rmt"


# Two digits at a time: 10 bits index the 1,024 pairs, so an id takes 13 look-ups instead of 26 steps of a loop (a
# transfer request formats a dozen ids; this halved their cost).
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_PAIR_SHIFTS = tuple(range(_LENGTH * 5 - 10, -1, -10))  # 120, 110, ..., 0: the most significant pair first


def format_id(kind: IdKind, value: int) -> str:
    if not 0 < value < 2**128:
        raise InvalidId(f"{kind.value} id out of range", param="id")
    pairs = _PAIRS
    return kind.value + "_" + "".join([pairs[value >> shift & 1023] for shift in _PAIR_SHIFTS])


def parse_id(kind: IdKind, text: str, *, param: str = "id") -> int:
    """The 128-bit number behind a public id of this kind; ``InvalidId`` for anything malformed."""
    prefix, sep, body = text.partition("_")
    if sep != "_" or prefix != kind.value or len(body) != _LENGTH:
        raise InvalidId(f"not a valid {kind.value}_ id", param=param)
    value = 0
    for c in body:
        digit = _DECODE.get(c)
        if digit is None:
            raise InvalidId(f"not a valid {kind.value}_ id", param=param)
        value = value << 5 | digit
    if not 0 < value < 2**128:
        raise InvalidId(f"not a valid {kind.value}_ id", param=param)
    return value
