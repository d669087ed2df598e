"""Pure pieces of customers & auth: lockout schedule, TOTP steps and replay, PIN format, hashing profiles, SMS."""

from __future__ import annotations

import pyotp
import pytest

from pocketbank.errors import WeakPassword
from pocketbank.integrations.passwords import Argon2Hasher
from pocketbank.integrations.sms import LoggingSmsSender, MemorySmsSender
from pocketbank.services.auth_common import code_hash, lock_seconds, new_code, new_token, token_hash
from pocketbank.services.second_factors import _check_pin_format, pin_binding, totp_step

NS = 1_000_000_000


def test_lockout_schedule() -> None:
    assert [lock_seconds(n) for n in range(1, 5)] == [0, 0, 0, 0]
    assert [lock_seconds(n) for n in range(5, 10)] == [60, 120, 240, 480, 960]
    assert lock_seconds(11) == 3600 and lock_seconds(1000) == 3600


def test_totp_window_and_replay_guard() -> None:
    secret = pyotp.random_base32()
    totp = pyotp.TOTP(secret)
    now = 1_767_225_615 * NS
    step = now // NS // 30
    assert totp_step(secret, totp.at(now // NS), now, 0) == step
    assert totp_step(secret, totp.at(now // NS - 30), now, 0) == step - 1  # clock drift, one step back
    assert totp_step(secret, totp.at(now // NS - 90), now, 0) is None  # too old
    assert totp_step(secret, totp.at(now // NS), now, step) is None  # already used: replay
    assert totp_step(secret, "12345", now, 0) is None
    assert totp_step(secret, "abcdef", now, 0) is None


@pytest.mark.parametrize("pin", ["12345", "1234567", "12345a", "111111", "123456", "987654", "１２３４５６"])
def test_bad_pins(pin: str) -> None:
    with pytest.raises(WeakPassword):
        _check_pin_format(pin)


def test_good_pin() -> None:
    _check_pin_format("480213")


def test_pin_binding_is_per_customer() -> None:
    assert pin_binding("cus_A") != pin_binding("cus_B")
    assert len(pin_binding("cus_A")) == 64


def test_tokens_and_codes() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) >= 43 for t in tokens)
    assert token_hash("x") != "x" and len(token_hash("x")) == 64
    code = new_code()
    assert len(code) == 6 and code.isdigit()
    assert code_hash(1, "123456") != code_hash(2, "123456")  # salted by the row id


def test_argon2_owasp_profile_parameters() -> None:
    h = Argon2Hasher("owasp")
    encoded = h.hash("correct horse battery")
    assert encoded.startswith("$argon2id$") and "m=19456,t=2,p=1" in encoded
    assert h.verify(encoded, "correct horse battery")
    assert not h.verify(encoded, "wrong")
    assert not h.verify("not a hash", "wrong")
    fast = Argon2Hasher("fast")
    weak = fast.hash("correct horse battery")
    assert h.verify(weak, "correct horse battery")  # parameters travel with the hash
    assert h.needs_rehash(weak) and not h.needs_rehash(encoded)


def test_sms_senders_keep_codes() -> None:
    memory = MemorySmsSender()
    memory.send("+8613800138000", "code 111111", code="111111")
    memory.send("+8613800138000", "hello")
    assert memory.last_code("+8613800138000") == "111111"
    with pytest.raises(LookupError):
        memory.last_code("+8613800138001")
    logging = LoggingSmsSender()
    logging.send("+8613800138000", "code 222222", code="222222")
    assert logging.latest_code("+8613800138000") == "222222"
    assert logging.latest_code("+8613800138001") is None
