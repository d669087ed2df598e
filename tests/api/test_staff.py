"""The staff API: staff login, customer look-up, class upgrades; and the wall between staff and customers."""

from __future__ import annotations

from collections.abc import Callable

from auth_helpers import SignedUp, staff_headers
from fastapi.testclient import TestClient

from pocketbank.bootstrap import Container
from pocketbank.domain.principals import StaffRole


def test_staff_login(client: TestClient, container: Container) -> None:
    staff_headers(client, container)
    r = client.post("/v1/staff/sessions", json={"username": "teller1", "password": "wrong wrong wrong"})
    unknown = client.post("/v1/staff/sessions", json={"username": "nobody", "password": "wrong wrong wrong"})
    assert r.status_code == unknown.status_code == 401
    assert r.json()["code"] == unknown.json()["code"] == "invalid_credentials"


def test_find_customer_by_phone_or_id(
    client: TestClient, container: Container, signup: Callable[..., SignedUp], teller: dict[str, str]
) -> None:
    a = signup(phone="13800138000")
    r = client.get("/v1/staff/customers", params={"phone": "138 0013 8000"}, headers=teller)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == a.id and r.json()["account_class"] == 2
    assert client.get("/v1/staff/customers", params={"customer_id": a.id}, headers=teller).json()["id"] == a.id
    r = client.get("/v1/staff/customers", params={"phone": "13800138009"}, headers=teller)
    assert r.status_code == 404
    actions = [(e.record.actor_type, e.record.action) for e in container.audit.entries()]  # type: ignore[attr-defined]
    assert ("staff", "staff.customer_viewed") in actions


def test_upgrade_class(
    client: TestClient, container: Container, signup: Callable[..., SignedUp], teller: dict[str, str]
) -> None:
    a = signup()
    body = {"account_class": 1, "reason": "identity verified at branch 0101"}
    r = client.post(f"/v1/staff/customers/{a.id}/upgrade", json=body, headers=teller)
    assert r.status_code == 200, r.text
    assert r.json()["account_class"] == 1
    assert client.get("/v1/customers/me", headers=a.headers).json()["account_class"] == 1
    assert "customer.class_changed" in [e.type for e in container.outbox.undispatched()]
    r = client.post("/v1/staff/customers/cus_nope/upgrade", json=body, headers=teller)
    assert r.status_code == 404
    r = client.post(f"/v1/staff/customers/{a.id}/upgrade", json={"account_class": 4, "reason": "x"}, headers=teller)
    assert r.status_code == 400


def test_staff_and_customer_tokens_do_not_cross(
    client: TestClient, container: Container, signup: Callable[..., SignedUp], teller: dict[str, str]
) -> None:
    a = signup()
    body = {"account_class": 1, "reason": "self-service upgrade attempt"}
    r = client.post(f"/v1/staff/customers/{a.id}/upgrade", json=body, headers=a.headers)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert client.get("/v1/staff/customers", params={"phone": a.phone}, headers=a.headers).status_code == 403
    for method, path in [("GET", "/v1/customers/me"), ("GET", "/v1/devices"), ("POST", "/v1/totp")]:
        r = client.request(method, path, headers=teller)
        assert r.status_code == 403, path
    supervisor = staff_headers(client, container, username="super1", role=StaffRole.SUPERVISOR)
    assert client.get("/v1/staff/customers", params={"customer_id": a.id}, headers=supervisor).status_code == 200
