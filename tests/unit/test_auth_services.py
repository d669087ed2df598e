"""The customers & auth services wired to SQLite, with a fake account opener and a bus subscriber."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pocketbank.bootstrap import Container, build_container
from pocketbank.config import Settings
from pocketbank.domain.channels import AuthMethod, Channel
from pocketbank.domain.clock import ManualClock
from pocketbank.domain.customers import AccountClass, IdKind
from pocketbank.domain.events import DomainEvent
from pocketbank.domain.principals import Principal, PrincipalKind, StaffRole
from pocketbank.errors import Forbidden, StepUpFailed
from pocketbank.integrations.sms import MemorySmsSender

ID = "11010519491231002X"


class FakeOpener:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, int, AccountClass]] = []
        self.prepared: list[int] = []

    def prepare_default_account(self, customer_id: int) -> None:
        self.prepared.append(customer_id)

    def open_default_account(self, tx: Any, customer_id: int, account_class: AccountClass) -> str:
        self.calls.append((tx, customer_id, account_class))
        return "acct_TEST"


@pytest.fixture
def c(tmp_path: Path) -> Iterator[Container]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'a.db'}", password_hash_profile="fast", sms_sender="memory"
    )
    container = build_container(settings, clock=ManualClock())
    yield container
    container.close()


def sms(c: Container) -> MemorySmsSender:
    assert isinstance(c.sms, MemorySmsSender)
    return c.sms


def register(c: Container) -> Any:
    c.customers.start_registration("13800138000", Channel.MOBILE, "ip")
    return c.customers.register(
        phone="13800138000",
        code=sms(c).last_code("+8613800138000"),
        password="plum tree lantern 42",
        name="Li Lei",
        id_kind=IdKind.PRC_RESIDENT_ID,
        id_number=ID,
        device_label="phone",
        channel=Channel.MOBILE,
        client_key="ip",
    )


def test_registration_opens_the_account_and_publishes_after_commit(c: Container) -> None:
    opener = FakeOpener()
    c.customers.accounts = opener
    seen: list[DomainEvent] = []
    c.bus.subscribe("customer.registered", seen.append)
    reg = register(c)
    assert reg.account_id == "acct_TEST"
    assert len(opener.calls) == 1 and opener.calls[0][2] is AccountClass.II
    assert opener.prepared == [opener.calls[0][1]]
    assert [e.data["customer"] for e in seen] == [reg.customer.id]
    assert seen[0].data["account"] == "acct_TEST"


def test_principal_and_device_trusted_at(c: Container) -> None:
    reg = register(c)
    now = c.clock.now_ns()
    p = c.auth.authenticate(reg.session.access_token, now)
    assert p.kind is PrincipalKind.CUSTOMER and p.public_id == reg.customer.id
    assert p.channel is Channel.MOBILE and p.auth_method is AuthMethod.SMS
    assert c.auth.device_trusted_at(p) == now


def test_staff_only_operations(c: Container) -> None:
    reg = register(c)
    p = c.auth.authenticate(reg.session.access_token, c.clock.now_ns())
    with pytest.raises(Forbidden):
        c.customers.upgrade_class(p, reg.customer.id, AccountClass.I, "self")
    with pytest.raises(Forbidden):
        c.staff.find_customer(p, phone="13800138000")
    c.staff.create_staff_user("sup", "Zhao Min", StaffRole.SUPERVISOR, "counter staff passphrase")
    tokens = c.staff.login("SUP", "counter staff passphrase", "ip")
    staff = c.auth.authenticate(tokens.access_token, c.clock.now_ns())
    assert staff.role is StaffRole.SUPERVISOR and staff.channel is Channel.COUNTER
    assert (
        c.customers.upgrade_class(staff, reg.customer.id, AccountClass.I, "in person").account_class is AccountClass.I
    )
    with pytest.raises(StepUpFailed):  # staff have no step-up challenges of their own
        c.auth.verify(staff, "chl_x", "123456", "0" * 64, c.clock.now_ns())


def test_verify_refuses_foreign_principal_kinds(c: Container) -> None:
    fake = Principal(PrincipalKind.STAFF, 1, "stf_x", 1, Channel.COUNTER, AuthMethod.PASSWORD)
    with pytest.raises(Forbidden):
        c.auth.list_devices(fake)
