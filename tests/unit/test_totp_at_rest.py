"""TOTP seeds sealed at rest, on every engine: what the row holds, restarts, wrong keys, row binding, rotation.

Each "restart" closes the container and builds a new one on the same database with the keys under test, the way
a redeploy would; the manual clock moves one TOTP step between proofs so no code is a replay.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import pyotp
import pytest
from pydantic import SecretStr
from sqlalchemy import select, update
from stdnum.cn import ric

from pocketbank.bootstrap import Container, build_container
from pocketbank.config import Settings
from pocketbank.domain.channels import AuthMethod, Channel
from pocketbank.domain.clock import NS_PER_SECOND, ManualClock
from pocketbank.domain.customers import IdKind
from pocketbank.domain.principals import Principal
from pocketbank.domain.stepup import binding_digest
from pocketbank.errors import MethodNotEnrolled, StepUpFailed
from pocketbank.integrations.sms import MemorySmsSender
from pocketbank.storage.customers_tables import customers

K1 = "k1:" + base64.urlsafe_b64encode(bytes(range(32))).decode()
K1_WRONG = "k1:" + base64.urlsafe_b64encode(bytes(range(1, 33))).decode()  # same id, other key
K2 = "k2:" + base64.urlsafe_b64encode(bytes(range(64, 96))).decode()

_seq = itertools.count(1)


@dataclass
class Customer:
    public_id: str
    access_token: str
    totp: pyotp.TOTP


class Bank:
    """Containers on one database, one at a time, sharing the manual clock."""

    def __init__(self, db_url: str, clock: ManualClock) -> None:
        self.db_url, self.clock = db_url, clock
        self.c: Container | None = None

    def start(self, keys: str | None) -> Container:
        self.stop()
        settings = Settings(
            database_url=self.db_url, group_commit_writers=0, password_hash_profile="fast", sms_sender="memory",
            redis_url=None, data_keys=SecretStr(keys) if keys else None,
        )  # fmt: skip
        self.c = build_container(settings, clock=self.clock)
        return self.c

    def stop(self) -> None:
        if self.c is not None:
            self.c.close()
            self.c = None

    @property
    def container(self) -> Container:
        assert self.c is not None
        return self.c

    def principal(self, who: Customer) -> Principal:
        return self.container.auth.authenticate(who.access_token, self.clock.now_ns())

    def signup(self, *, confirm: bool = True) -> Customer:
        c, n = self.container, next(_seq)
        phone = f"1380013{n:04d}"
        c.customers.start_registration(phone, Channel.MOBILE, "ip")
        sms = c.sms
        assert isinstance(sms, MemorySmsSender)
        body = f"11010519491231{n % 1000:03d}"
        reg = c.customers.register(
            phone=phone, code=sms.last_code(f"+86{phone}"), password="plum tree lantern 42", name="Li Lei",
            id_kind=IdKind.PRC_RESIDENT_ID, id_number=body + ric.calc_check_digit(body + "0"), device_label="phone",
            channel=Channel.MOBILE, client_key="ip",
        )  # fmt: skip
        who = Customer(reg.customer.id, reg.session.access_token, pyotp.TOTP(pyotp.random_base32()))
        who.totp = pyotp.TOTP(c.auth.enroll_totp(self.principal(who)).secret)
        if confirm:
            self.confirm(who)
        return who

    def confirm(self, who: Customer) -> None:
        self.container.auth.confirm_totp(self.principal(who), who.totp.at(self.clock.now_ns() // NS_PER_SECOND))

    def step_up(self, who: Customer, totp: pyotp.TOTP | None = None) -> AuthMethod:
        """One TOTP step-up proof, a step after the last one (so it is never a replay)."""
        self.clock.advance(30)
        p, now = self.principal(who), self.clock.now_ns()
        binding = binding_digest(who.public_id, 500, "CNY", "acct_payee")
        ch = self.container.auth.create_challenge(p, AuthMethod.TOTP, binding, now)
        code = (totp or who.totp).at(now // NS_PER_SECOND)
        return self.container.auth.verify(p, ch.id, code, binding, now)

    def row(self, who: Customer) -> tuple[str | None, str | None]:
        q = select(customers.c.totp_secret, customers.c.totp_key_id).where(customers.c.public_id == who.public_id)
        with self.container.engine.connect() as conn:
            r = conn.execute(q).one()
        return r.totp_secret, r.totp_key_id

    def set_row(self, who: Customer, blob: str | None, key_id: str | None) -> None:
        q = update(customers).where(customers.c.public_id == who.public_id)
        with self.container.engine.begin() as conn:
            conn.execute(q.values(totp_secret=blob, totp_key_id=key_id))

    def audit_actions(self, who: Customer) -> list[str]:
        entries = self.container.audit.entries(f"customer:{who.public_id}")  # type: ignore[attr-defined]
        return [e.record.action for e in entries]


@pytest.fixture
def bank(db_url: str, clock: ManualClock) -> Iterator[Bank]:
    b = Bank(db_url, clock)
    yield b
    b.stop()


def test_the_row_holds_ciphertext_and_a_restart_with_the_same_key_verifies(bank: Bank) -> None:
    bank.start(K1)
    a = bank.signup()
    blob, key_id = bank.row(a)
    assert key_id == "k1" and blob is not None
    raw = base64.urlsafe_b64decode(blob)
    assert a.totp.secret not in blob and a.totp.secret.encode() not in raw
    assert base64.b32decode(a.totp.secret) not in raw
    assert bank.step_up(a) is AuthMethod.TOTP
    bank.start(K1)  # restart
    assert bank.step_up(a) is AuthMethod.TOTP
    assert bank.container.audit.verify() == []  # type: ignore[attr-defined]


def test_wrong_key_refuses_and_is_audited(bank: Bank) -> None:
    bank.start(K1)
    a = bank.signup()
    pending = bank.signup(confirm=False)
    bank.start(K1_WRONG)
    with pytest.raises(StepUpFailed):
        bank.step_up(a)
    assert "totp.unreadable" in bank.audit_actions(a)
    with pytest.raises(MethodNotEnrolled):  # an enrolment sealed under a lost key must start again
        bank.confirm(pending)
    pending.totp = pyotp.TOTP(bank.container.auth.enroll_totp(bank.principal(pending)).secret)
    bank.confirm(pending)
    assert bank.step_up(pending) is AuthMethod.TOTP
    bank.start(K2)  # a key id nobody configured
    with pytest.raises(StepUpFailed):
        bank.step_up(a)
    bank.start(K1)  # the right key is back: nothing was lost
    assert bank.step_up(a) is AuthMethod.TOTP


def test_a_seed_copied_to_another_customer_does_not_open(bank: Bank) -> None:
    bank.start(K1)
    a, b = bank.signup(), bank.signup()
    blob, key_id = bank.row(a)
    bank.set_row(b, blob, key_id)
    with pytest.raises(StepUpFailed):
        bank.step_up(b, a.totp)  # A's authenticator does not approve B's payments
    with pytest.raises(StepUpFailed):
        bank.step_up(b)
    assert "totp.unreadable" in bank.audit_actions(b)
    assert bank.step_up(a) is AuthMethod.TOTP


def test_rotation_reseals_on_use_and_in_bulk(bank: Bank) -> None:
    bank.start(K1)
    a, b = bank.signup(), bank.signup()
    bank.start(f"{K2},{K1}")  # k2 seals from now on; k1 still opens
    assert bank.step_up(a) is AuthMethod.TOTP
    assert bank.row(a)[1] == "k2"  # re-sealed when used
    assert bank.row(b)[1] == "k1"
    report = bank.container.auth.reseal_totp_secrets()
    assert (report.resealed, report.unreadable) == (1, 0)
    assert bank.row(b)[1] == "k2"
    assert bank.container.auth.reseal_totp_secrets().resealed == 0
    bank.start(K2)  # k1 retired
    assert bank.step_up(a) is AuthMethod.TOTP
    assert bank.step_up(b) is AuthMethod.TOTP


def test_legacy_plaintext_refused_until_explicitly_adopted(bank: Bank) -> None:
    bank.start(K1)
    a = bank.signup()
    bank.set_row(a, a.totp.secret, None)  # as stored before sealing existed (or planted by someone)
    with pytest.raises(StepUpFailed):
        bank.step_up(a)
    assert bank.container.auth.reseal_totp_secrets().unreadable == 1
    assert bank.container.auth.reseal_totp_secrets(adopt_plaintext=True).resealed == 1
    blob, key_id = bank.row(a)
    assert key_id == "k1" and blob != a.totp.secret
    assert bank.step_up(a) is AuthMethod.TOTP


def test_without_keys_the_database_key_survives_restarts_and_yields_to_configured_keys(bank: Bank) -> None:
    bank.start(None)
    a = bank.signup()
    blob, key_id = bank.row(a)
    assert key_id == "local" and blob is not None and a.totp.secret not in blob
    bank.start(None)  # restart (or a second worker): same database, same key
    assert bank.step_up(a) is AuthMethod.TOTP
    bank.start(K1)
    assert bank.step_up(a) is AuthMethod.TOTP  # the database key still opens, and the seed moves to k1
    assert bank.row(a)[1] == "k1"
