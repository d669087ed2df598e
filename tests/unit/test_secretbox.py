"""The AES-GCM secret box on its own: sealing, binding to a context, key rotation, key parsing, the demo key."""

from __future__ import annotations

import base64

import pytest

from pocketbank.integrations.secretbox import (
    LOCAL_KEY_ID,
    AesGcmBox,
    Keyring,
    build_secret_box,
    new_key_entry,
    parse_keyring,
)
from pocketbank.services.auth_ports import LEGACY_PLAINTEXT, Sealed, SecretUnreadable

SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
K1 = bytes(range(32))
K2 = bytes(range(100, 132))


def entry(key_id: str, key: bytes) -> str:
    return f"{key_id}:{base64.urlsafe_b64encode(key).decode()}"


def test_seal_hides_the_secret_and_opens_only_for_its_context() -> None:
    box = AesGcmBox(Keyring("k1", {"k1": K1}))
    sealed = box.seal(SEED, "customer.totp:01")
    assert sealed.key_id == "k1"
    raw = base64.urlsafe_b64decode(sealed.blob)
    assert SEED not in sealed.blob and SEED.encode() not in raw and base64.b32decode(SEED) not in raw
    assert box.seal(SEED, "customer.totp:01").blob != sealed.blob  # a fresh nonce every time
    assert box.open(sealed, "customer.totp:01") == SEED
    with pytest.raises(SecretUnreadable):
        box.open(sealed, "customer.totp:02")  # copied onto another row


def test_tampered_relabelled_or_unknown_key_refused() -> None:
    box = AesGcmBox(Keyring("k1", {"k1": K1, "k2": K2}))
    sealed = box.seal(SEED, "ctx")
    raw = bytearray(base64.urlsafe_b64decode(sealed.blob))
    raw[20] ^= 1
    for bad in (
        Sealed("k1", base64.urlsafe_b64encode(bytes(raw)).decode()),  # one bit flipped
        Sealed("k2", sealed.blob),  # relabelled with another key id
        Sealed("k9", sealed.blob),  # a key nobody configured
        Sealed(LEGACY_PLAINTEXT, SEED),  # plaintext is never trusted on read
        Sealed("k1", "not base64!"),
        Sealed("k1", "AAAA"),
    ):
        with pytest.raises(SecretUnreadable):
            box.open(bad, "ctx")
    other = AesGcmBox(Keyring("k1", {"k1": K2}))  # same id, different key
    with pytest.raises(SecretUnreadable):
        other.open(sealed, "ctx")


def test_rotation_opens_old_seals_and_seals_with_the_first_key() -> None:
    old = AesGcmBox(parse_keyring(entry("k1", K1)))
    sealed = old.seal(SEED, "ctx")
    rotated = AesGcmBox(parse_keyring(f"{entry('k2', K2)}, {entry('k1', K1)}"))
    assert rotated.current_key_id == "k2"
    assert rotated.open(sealed, "ctx") == SEED
    assert rotated.seal(SEED, "ctx").key_id == "k2"


@pytest.mark.parametrize(
    "spec",
    ["", " , ", "k1", "k1:", "k1:short", f"local:{entry('x', K1)[2:]}", f"{entry('k1', K1)},{entry('k1', K2)}"],
)
def test_bad_keyrings_refused_without_echoing_keys(spec: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_keyring(spec)
    assert base64.urlsafe_b64encode(K1).decode() not in str(info.value)


def test_new_key_entry_parses() -> None:
    ring = parse_keyring(new_key_entry("2026-07"))
    assert ring.current == "2026-07" and len(ring.keys["2026-07"]) == 32
    with pytest.raises(ValueError):
        new_key_entry(LOCAL_KEY_ID)


def test_demo_box_uses_the_database_key_and_configured_keys_keep_it_readable() -> None:
    stored: dict[str, bytes] = {}

    def local(create: bool) -> bytes | None:
        if create and "local" not in stored:
            stored["local"] = K2
        return stored.get("local")

    demo = build_secret_box(None, local)
    assert demo.current_key_id == LOCAL_KEY_ID and stored == {"local": K2}
    sealed = demo.seal(SEED, "ctx")
    configured = build_secret_box(entry("k1", K1), local)
    assert configured.current_key_id == "k1"
    assert configured.open(sealed, "ctx") == SEED  # the demo key stays readable, never used to seal
    fresh: dict[str, bytes] = {}
    build_secret_box(entry("k1", K1), lambda create: fresh.get("local"))
    assert fresh == {}  # configured keys never create a database key
