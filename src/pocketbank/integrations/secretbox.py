"""Secrets at rest (``services.auth_ports.SecretBox``): AES-256-GCM under named keys, each value bound to its row.

**Keys.** ``POCKETBANK_DATA_KEYS`` is a comma-separated list of ``key_id:key`` entries, each key 32 random bytes in
URL-safe base64 (``pocketbank new-data-key`` prints one). The first entry seals; every entry opens. To rotate, put
a new entry first and keep the old ones until ``pocketbank reseal-totp`` reports nothing left under them (a value is
also re-sealed whenever it is used).

**Binding.** The associated data is the caller's context (e.g. ``customer.totp:<customer id>``) plus the key id, so
a ciphertext copied onto another customer's row, or relabelled with another key id, fails to open instead of
verifying someone else's codes. GCM's tag also refuses any edited byte.

**No key configured** (demos, tests): a random key is made once per database and kept in it (``local_data_keys``),
under the id ``local``, and a warning is logged at every start. Unlike a per-process key (what the web app does
for its CSRF secret) it survives restarts and is shared by every worker, so enrolled authenticators keep working;
but it sits beside the data it protects, so it guards against nothing more than a stray copy of one table. Never
plaintext, though: if keys are configured later, the ``local`` key stays readable (never used to seal) so existing
rows can be re-sealed under the configured key.

Nonces are 96 random bits: safe for far more than the 2**32 seals per key that the GCM limits allow.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pocketbank.services.auth_ports import Sealed, SecretUnreadable

LOCAL_KEY_ID: Final = "local"
KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_AAD_PREFIX: Final = b"pocketbank.secretbox.v1\x00"

log = structlog.get_logger("pocketbank.secretbox")


@dataclass(frozen=True, slots=True)
class Keyring:
    current: str
    keys: Mapping[str, bytes]


def new_key_entry(key_id: str) -> str:
    """A fresh ``key_id:key`` entry for ``POCKETBANK_DATA_KEYS``."""
    if not _KEY_ID.fullmatch(key_id) or key_id == LOCAL_KEY_ID:
        raise ValueError("a key id is 1-32 of A-Z a-z 0-9 _ . - (and not 'local')")
    return f"{key_id}:{base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"


def parse_keyring(spec: str) -> Keyring:
    """Parse ``POCKETBANK_DATA_KEYS``; errors name the entry, never echo key material."""
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for n, entry in enumerate((e.strip() for e in spec.split(",") if e.strip()), start=1):
        key_id, sep, encoded = entry.partition(":")
        if not sep or not _KEY_ID.fullmatch(key_id) or key_id == LOCAL_KEY_ID:
            raise ValueError(f"POCKETBANK_DATA_KEYS entry {n}: expected key_id:key, key_id 1-32 of A-Z a-z 0-9 _ . -")
        if key_id in keys:
            raise ValueError(f"POCKETBANK_DATA_KEYS entry {n}: key id {key_id!r} appears twice")
        try:
            key = base64.urlsafe_b64decode(encoded.encode("ascii"))
        except (ValueError, binascii.Error):
            key = b""
        if len(key) != KEY_BYTES:
            raise ValueError(f"POCKETBANK_DATA_KEYS entry {n} ({key_id}): the key must be 32 bytes in URL-safe base64")
        keys[key_id] = key
        order.append(key_id)
    if not order:
        raise ValueError("POCKETBANK_DATA_KEYS is set but holds no key")
    return Keyring(order[0], keys)


class AesGcmBox:
    def __init__(self, ring: Keyring) -> None:
        if ring.current not in ring.keys or any(len(k) != KEY_BYTES for k in ring.keys.values()):
            raise ValueError("the current key must be one of the 32-byte keys")
        self._current = ring.current
        self._ciphers = {key_id: AESGCM(key) for key_id, key in ring.keys.items()}

    @property
    def current_key_id(self) -> str:
        return self._current

    @staticmethod
    def _aad(key_id: str, context: str) -> bytes:
        return _AAD_PREFIX + key_id.encode() + b"\x00" + context.encode()

    def seal(self, secret: str, context: str) -> Sealed:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._ciphers[self._current].encrypt(nonce, secret.encode(), self._aad(self._current, context))
        return Sealed(self._current, base64.urlsafe_b64encode(nonce + sealed).decode("ascii"))

    def open(self, sealed: Sealed, context: str) -> str:
        cipher = self._ciphers.get(sealed.key_id)
        if cipher is None:
            raise SecretUnreadable(f"no data key named {sealed.key_id!r} is configured")
        try:
            raw = base64.urlsafe_b64decode(sealed.blob.encode("ascii"))
        except (ValueError, binascii.Error):
            raise SecretUnreadable("the sealed value is not valid base64") from None
        if len(raw) < NONCE_BYTES + TAG_BYTES:
            raise SecretUnreadable("the sealed value is too short")
        try:
            plain = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], self._aad(sealed.key_id, context))
        except InvalidTag:
            raise SecretUnreadable(f"the sealed value does not open under key {sealed.key_id!r} for its row") from None
        return plain.decode()


def build_secret_box(configured: str | None, local_key: Callable[[bool], bytes | None]) -> AesGcmBox:
    """The box for the configured keys, or for the database's own key; ``local_key(create)`` reads (or makes) it."""
    if configured is not None and configured.strip():
        ring = parse_keyring(configured)
        old_local = local_key(False)
        if old_local is not None:  # rows sealed before keys were configured stay readable until re-sealed
            ring = Keyring(ring.current, {**ring.keys, LOCAL_KEY_ID: old_local})
        return AesGcmBox(ring)
    log.warning(
        "POCKETBANK_DATA_KEYS is not set: TOTP seeds are sealed under a key kept in the database itself, which is "
        "no protection if the database leaks; set it for production (`pocketbank new-data-key` makes a key)"
    )
    key = local_key(True)
    if key is None:
        raise RuntimeError("could not make the database's local data key")
    return AesGcmBox(Keyring(LOCAL_KEY_ID, {LOCAL_KEY_ID: key}))
