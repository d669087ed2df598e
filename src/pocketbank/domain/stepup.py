"""Step-up binding: tie a customer's proof of approval to exactly one amount and payee (PSD2 "dynamic linking").

When a payment needs a second factor (a one-time code, a signature from an enrolled device), the bank must make
sure the factor approves *this* payment and no other. PSD2's regulatory technical standards (Art. 5) call this
dynamic linking: the authentication code is specific to the amount and the payee, and changing either
invalidates it. Without it, malware in the browser can show "pay 100 CNY to Alice" while sending "pay
50,000 CNY to Mallory" for the customer to approve with a perfectly valid code.

`binding_digest` is the fingerprint that the challenge is issued for and the proof is checked against.
It is the SHA-256 of a canonical encoding of (customer, amount, currency, payee):

    b"pocketbank.stepup.v1" + for each field: 4-byte big-endian length + UTF-8 bytes

The domain tag keeps these digests from ever colliding with hashes made for another purpose, and the version
lets the encoding change without old and new digests meaning the same thing. Length prefixes make the
encoding unambiguous: with plain concatenation ("ab" + "c" vs "a" + "bc") two different payments could share
a digest. The amount is the integer number of minor units written in decimal, so 100 and 100.00 cannot be
confused. No normalisation is applied: callers pass canonical identifiers (the customer id, the payee
account number), and any difference, however small, gives a different digest, failing safe.

The digest is not secret and is not a MAC: the proof (an OTP or signature) is what the attacker cannot forge,
and this digest is what that proof is bound to. `binding_matches` compares in constant time anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Final

DOMAIN_TAG: Final = b"pocketbank.stepup.v1"
_CURRENCY = re.compile(r"[A-Z0-9-]{3,16}")


def _field(value: str) -> bytes:
    data = value.encode("utf-8")
    return len(data).to_bytes(4, "big") + data


def binding_digest(customer_id: str, amount: int, currency: str, payee: str) -> str:
    """SHA-256 hex digest binding a step-up proof to this customer, amount (minor units), currency and payee."""
    if not isinstance(customer_id, str) or not customer_id:
        raise ValueError("customer_id must be a non-empty string")
    if type(amount) is not int or amount <= 0:
        raise ValueError("amount must be a positive int of minor units")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise ValueError("currency must be an asset code such as 'CNY'")
    if not isinstance(payee, str) or not payee:
        raise ValueError("payee must be a non-empty string")
    encoded = DOMAIN_TAG + b"".join(_field(v) for v in (customer_id, str(amount), currency, payee))
    return hashlib.sha256(encoded).hexdigest()


def binding_matches(digest: str, customer_id: str, amount: int, currency: str, payee: str) -> bool:
    """Whether `digest` was made for exactly this payment (constant-time comparison)."""
    if not isinstance(digest, str) or not digest.isascii():
        return False
    return hmac.compare_digest(digest, binding_digest(customer_id, amount, currency, payee))
