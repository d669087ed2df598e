"""Helpers for API tests that need customers or staff: sign up through the API, read SMS codes, log staff in.

Import them with ``from auth_helpers import SignedUp, register_customer, last_code, staff_headers, prc_id``, or use
the ``signup`` and ``teller`` fixtures from ``tests/api/conftest.py``.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass

from fastapi.testclient import TestClient
from stdnum.cn import ric

from pocketbank.bootstrap import Container
from pocketbank.domain.principals import StaffRole
from pocketbank.errors import Conflict
from pocketbank.integrations.sms import MemorySmsSender


@dataclass
class SignedUp:
    """A registered, logged-in customer: ``headers`` carry the bearer token for ``client.get(..., headers=...)``."""

    id: str  # cus_…
    phone: str  # E.164
    password: str
    access_token: str
    refresh_token: str
    device_id: str  # dev_…, trusted
    session_id: str
    account_id: str | None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


_phones = itertools.count(1)


def prc_id(seq: int) -> str:
    """A valid 18-character PRC resident id number, different for each ``seq`` (0-999)."""
    body = f"11010519491231{seq % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum expects a placeholder check character


def last_code(container: Container, phone: str) -> str:
    """The latest SMS code sent to ``phone`` (E.164) by the in-memory sender."""
    sms = container.sms
    assert isinstance(sms, MemorySmsSender)
    return sms.last_code(phone)


def register_customer(
    client: TestClient,
    container: Container,
    *,
    phone: str | None = None,
    password: str = "plum tree lantern 42",
    name: str = "Wang Fang",
    id_number: str | None = None,
    device_label: str = "test phone",
) -> SignedUp:
    """Sign up through the API (SMS code read from the memory sender) and return the logged-in customer."""
    n = next(_phones)
    phone = phone or f"1390000{n:04d}"
    r = client.post("/v1/registrations", json={"phone": phone})
    assert r.status_code == 202, r.text
    e164 = r.json()["phone"]
    body = {
        "phone": phone,
        "code": last_code(container, e164),
        "password": password,
        "name": name,
        "id_kind": "prc_resident_id",
        "id_number": id_number or prc_id(n),
        "device_label": device_label,
    }
    r = client.post("/v1/customers", json=body)
    assert r.status_code == 201, r.text
    data = r.json()
    s = data["session"]
    return SignedUp(
        id=data["customer"]["id"],
        phone=e164,
        password=password,
        access_token=s["access_token"],
        refresh_token=s["refresh_token"],
        device_id=s["device_id"],
        session_id=s["id"],
        account_id=data["account_id"],
    )


def staff_headers(
    client: TestClient, container: Container, *, username: str = "teller1", role: StaffRole = StaffRole.TELLER
) -> dict[str, str]:
    """Create a staff user (if new) and log in through the API; returns bearer headers."""
    password = "counter staff passphrase"
    with contextlib.suppress(Conflict):
        container.staff.create_staff_user(username, "Zhao Min", role, password)
    r = client.post("/v1/staff/sessions", json={"username": username, "password": password})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
