"""Staff login brute-force defence through the API, on every engine: lockout with back-off, rate limits, audit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from auth_helpers import SignedUp, staff_headers
from fastapi.testclient import TestClient

from pocketbank.bootstrap import Container
from pocketbank.domain.clock import ManualClock
from pocketbank.services.auth_common import RateLimits, RateRule

WRONG = "not the staff passphrase"


def staff_login(client: TestClient, password: str = "counter staff passphrase", username: str = "teller1") -> Any:
    return client.post("/v1/staff/sessions", json={"username": username, "password": password})


def staff_actions(container: Container, username: str = "teller1") -> list[tuple[str, dict[str, Any]]]:
    """The login audit records in one staff member's own stream, oldest first."""
    with container.uow.read() as tx:
        staff = container.staff.d.staff.find_by_username(tx, username)
    assert staff is not None
    entries = container.audit.entries(f"staff:{staff.public_id}")  # type: ignore[attr-defined]
    return [(e.record.action, e.record.detail) for e in entries if e.record.action.startswith("login.")]


def test_staff_lockout_and_backoff(client: TestClient, container: Container, clock: ManualClock) -> None:
    staff_headers(client, container)
    for _ in range(5):
        r = staff_login(client, WRONG)
        assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"
    r = staff_login(client)  # even the right password is refused while locked
    assert r.status_code == 423 and r.json()["code"] == "account_locked"
    assert 0 < int(r.headers["Retry-After"]) <= 60
    clock.advance(61)
    assert staff_login(client, WRONG).status_code == 401  # the 6th consecutive failure locks for twice as long
    r = staff_login(client)
    assert r.status_code == 423 and 60 < int(r.headers["Retry-After"]) <= 120
    clock.advance(121)
    assert staff_login(client).status_code == 201  # recovered; the count is reset
    assert staff_login(client, WRONG).status_code == 401
    assert staff_login(client).status_code == 201


def test_staff_lock_is_per_account_and_audited(client: TestClient, container: Container) -> None:
    staff_headers(client, container)
    staff_headers(client, container, username="teller2")
    for _ in range(5):
        staff_login(client, WRONG)
    assert staff_login(client).status_code == 423
    assert staff_login(client, username="teller2").status_code == 201
    actions = staff_actions(container)
    assert staff_actions(container, "teller2") == []
    assert [a for a, _ in actions].count("login.failed") == 5
    assert [d["failures"] for a, d in actions if a == "login.failed"] == [1, 2, 3, 4, 5]
    assert [(a, d) for a, d in actions if a == "login.locked"] == [("login.locked", {"failures": 5, "seconds": 60})]
    assert [a for a, _ in actions].count("login.refused_locked") == 1
    assert container.audit.verify() == []  # type: ignore[attr-defined]


def test_staff_and_customer_lockouts_answer_alike(
    client: TestClient, container: Container, signup: Callable[..., SignedUp]
) -> None:
    staff_headers(client, container)
    a = signup()
    for _ in range(5):
        staff_login(client, WRONG)
        client.post("/v1/sessions", json={"phone": a.phone, "password": WRONG, "device_id": a.device_id})
    staff = staff_login(client)
    customer = client.post("/v1/sessions", json={"phone": a.phone, "password": a.password, "device_id": a.device_id})
    assert staff.status_code == customer.status_code == 423
    assert staff.json()["code"] == customer.json()["code"] == "account_locked"
    assert staff.headers["Retry-After"] == customer.headers["Retry-After"]


def test_staff_login_rate_limited_per_user_name(client: TestClient, container: Container, clock: ManualClock) -> None:
    staff_headers(client, container)  # one login spent
    codes = [staff_login(client, WRONG).status_code for _ in range(20)]
    assert codes[-1] == 429 and set(codes[:-1]) <= {401, 423}
    r = staff_login(client, WRONG, username="TELLER1 ")  # the same account however it is spelt
    assert r.status_code == 429 and r.json()["code"] == "rate_limited" and int(r.headers["Retry-After"]) > 0
    clock.advance(3600)  # the window and the lock have both run out
    assert staff_login(client).status_code == 201


def test_staff_login_rate_limited_per_client(client: TestClient, container: Container, clock: ManualClock) -> None:
    container.staff.d.limits = RateLimits(login_per_client=RateRule(5, 60))
    codes = [staff_login(client, WRONG, username=f"nobody{n}").status_code for n in range(6)]
    assert codes == [401] * 5 + [429]  # spraying many user names from one client
    clock.advance(60)
    assert staff_login(client, WRONG, username="nobody9").status_code == 401
