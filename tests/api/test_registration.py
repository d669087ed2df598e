"""Sign-up and the customer's profile through the API, on every engine."""

from __future__ import annotations

from collections.abc import Callable

from auth_helpers import SignedUp, last_code, prc_id
from fastapi.testclient import TestClient

from pocketbank.bootstrap import Container
from pocketbank.domain.clock import ManualClock


def start(client: TestClient, phone: str = "13800138000") -> str:
    r = client.post("/v1/registrations", json={"phone": phone})
    assert r.status_code == 202, r.text
    assert r.json()["object"] == "registration"
    return str(r.json()["phone"])


def signup_body(container: Container, phone: str = "13800138000", **overrides: str) -> dict[str, str]:
    body = {
        "phone": phone,
        "code": last_code(container, "+86" + phone),
        "password": "plum tree lantern 42",
        "name": "Li Lei",
        "id_kind": "prc_resident_id",
        "id_number": prc_id(7),
    }
    body.update(overrides)
    return body


def test_register_then_profile(client: TestClient, container: Container) -> None:
    assert start(client) == "+8613800138000"
    r = client.post("/v1/customers", json=signup_body(container))
    assert r.status_code == 201, r.text
    data = r.json()
    customer = data["customer"]
    assert customer["id"].startswith("cus_")
    assert customer["account_class"] == 2  # remote sign-up: class II
    assert customer["status"] == "active"
    assert customer["id_number_masked"].startswith("110") and "*" in customer["id_number_masked"]
    assert "password_hash" not in customer
    assert data["session"]["device_id"].startswith("dev_")
    headers = {"Authorization": f"Bearer {data['session']['access_token']}"}
    me = client.get("/v1/customers/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["id"] == customer["id"]
    events = [e.type for e in container.outbox.undispatched()]
    assert "customer.registered" in events and "session.started" in events
    actions = [e.record.action for e in container.audit.entries()]  # type: ignore[attr-defined]
    assert "customer.registered" in actions
    assert container.audit.verify() == []


def test_bad_phone(client: TestClient) -> None:
    r = client.post("/v1/registrations", json={"phone": "12345"})
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_phone_number"


def test_bad_id_checksum(client: TestClient, container: Container) -> None:
    start(client)
    good = prc_id(7)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    r = client.post("/v1/customers", json=signup_body(container, id_number=bad))
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_id_document"


def test_weak_and_common_passwords(client: TestClient, container: Container) -> None:
    start(client)
    for password, reason in [("short", "too_short"), ("password123", "common"), ("Li Lei rocks 2026", None)]:
        r = client.post("/v1/customers", json=signup_body(container, password=password))
        assert r.status_code == 400, password
        assert r.json()["code"] == "weak_password"
        assert reason is None or reason in r.text or r.json()["param"] == "password"
    # The code was not burnt by the refusals: a good password still works with it.
    assert client.post("/v1/customers", json=signup_body(container)).status_code == 201


def test_wrong_code_and_attempt_limit(client: TestClient, container: Container) -> None:
    start(client)
    right = last_code(container, "+8613800138000")
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(5):
        r = client.post("/v1/customers", json=signup_body(container, code=wrong))
        assert r.status_code == 400
        assert r.json()["code"] == "invalid_code"
    # Five wrong guesses exhaust the code: even the right one is refused now.
    r = client.post("/v1/customers", json=signup_body(container, code=right))
    assert r.json()["code"] == "invalid_code"


def test_code_expires(client: TestClient, container: Container, clock: ManualClock) -> None:
    start(client)
    clock.advance(601)
    r = client.post("/v1/customers", json=signup_body(container))
    assert r.json()["code"] == "invalid_code"


def test_code_is_single_use_and_duplicates_refused(client: TestClient, container: Container) -> None:
    start(client)
    body = signup_body(container)
    assert client.post("/v1/customers", json=body).status_code == 201
    assert client.post("/v1/customers", json=body).json()["code"] == "invalid_code"
    # A new code for the same number: the number is taken (told only to whoever holds the phone).
    start(client)
    r = client.post("/v1/customers", json=signup_body(container))
    assert r.status_code == 409
    assert r.json()["code"] == "already_registered"
    # Same identity document on another number.
    start(client, "13800138001")
    r = client.post("/v1/customers", json=signup_body(container, phone="13800138001"))
    assert r.status_code == 409
    assert r.json()["param"] == "id_number"


def test_start_registration_does_not_reveal_customers(client: TestClient, signup: Callable[..., SignedUp]) -> None:
    signup(phone="13800138000")
    known = client.post("/v1/registrations", json={"phone": "13800138000"})
    unknown = client.post("/v1/registrations", json={"phone": "13800138009"})
    assert known.status_code == unknown.status_code == 202
    assert known.json().keys() == unknown.json().keys()


def test_sms_rate_limit(client: TestClient) -> None:
    for _ in range(5):
        assert client.post("/v1/registrations", json={"phone": "13800138000"}).status_code == 202
    r = client.post("/v1/registrations", json={"phone": "13800138000"})
    assert r.status_code == 429
    assert r.json()["code"] == "rate_limited"
    assert int(r.headers["Retry-After"]) > 0


def test_unknown_fields_refused(client: TestClient) -> None:
    r = client.post("/v1/registrations", json={"phone": "13800138000", "is_admin": True})
    assert r.status_code == 400
    assert r.json()["code"] == "unknown_field"


def test_me_needs_a_token(client: TestClient) -> None:
    assert client.get("/v1/customers/me").status_code == 401
    r = client.get("/v1/customers/me", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert r.json()["code"] == "unauthenticated"
