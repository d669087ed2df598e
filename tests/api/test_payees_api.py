"""``/v1/payees``: add, list, remove; unknown, own and foreign accounts; one customer never sees another's payees."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from money_helpers import add_payee, open_account, post_transfer, problem, step_up, transfer_body

from pocketbank.bootstrap import Container


def _listed(client: TestClient, cust) -> list[dict]:
    r = client.get("/v1/payees", headers=cust.headers)
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["object"] == "list" and page["has_more"] is False and page["url"] == "/v1/payees"
    return page["data"]


def test_add_list_remove(client: TestClient, signup) -> None:
    a, b, c = signup(), signup(), signup()
    assert _listed(client, a) == []
    usd_c = open_account(client, c, "USD")

    r = client.post("/v1/payees", json={"name": "Bob", "account_id": b.account_id}, headers=a.headers)
    assert r.status_code == 201, r.text
    bob = r.json()
    assert bob["object"] == "payee" and bob["id"].startswith("pye_")
    assert bob["name"] == "Bob" and bob["account_id"] == b.account_id and bob["currency"] == "CNY"
    assert isinstance(bob["added_at"], int) and bob["added_at"] > 0

    carol_usd = add_payee(client, a, usd_c, "Carol USD")
    listed = {p["id"]: p for p in _listed(client, a)}
    assert set(listed) == {bob["id"], carol_usd}
    assert listed[bob["id"]] == bob
    assert listed[carol_usd]["currency"] == "USD" and listed[carol_usd]["account_id"] == usd_c

    r = client.delete(f"/v1/payees/{bob['id']}", headers=a.headers)
    assert r.status_code == 204 and r.content == b""
    assert [p["id"] for p in _listed(client, a)] == [carol_usd]
    # removing again: it is gone
    problem(client.delete(f"/v1/payees/{bob['id']}", headers=a.headers), 404, "not_found", "payee_id")


def test_removed_payee_cannot_be_paid(client: TestClient, container: Container, signup) -> None:
    a, b = signup(), signup()
    payee = add_payee(client, a, b.account_id)
    proof = step_up(client, container, a, 100, payee)
    assert client.delete(f"/v1/payees/{payee}", headers=a.headers).status_code == 204
    r = post_transfer(client, a, transfer_body(a, 100, payee_id=payee, proof=proof))
    problem(r, 404, "not_found", "payee_id")


def test_unknown_account_is_not_found(client: TestClient, signup) -> None:
    a = signup()
    r = client.post("/v1/payees", json={"name": "Ghost", "account_id": "acct_" + "1" * 26}, headers=a.headers)
    problem(r, 404, "not_found", "account_id")
    assert _listed(client, a) == []


def test_malformed_account_id_is_invalid(client: TestClient, signup) -> None:
    a = signup()
    r = client.post("/v1/payees", json={"name": "Ghost", "account_id": "cus_" + "1" * 26}, headers=a.headers)
    problem(r, 400, "invalid_id", "account_id")


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"name": "", "account_id": "acct_" + "1" * 26}, "invalid_request", "name"),
        ({"name": "x" * 65, "account_id": "acct_" + "1" * 26}, "invalid_request", "name"),
        ({"account_id": "acct_" + "1" * 26}, "invalid_request", "name"),
        ({"name": "Bob"}, "invalid_request", "account_id"),
        ({"name": "Bob", "account_id": "acct_" + "1" * 26, "nickname": "b"}, "unknown_field", "nickname"),
    ],
)
def test_payee_body_validation(client: TestClient, signup, body: dict, code: str, param: str) -> None:
    a = signup()
    problem(client.post("/v1/payees", json=body, headers=a.headers), 400, code, param)


def test_own_account_needs_no_payee(client: TestClient, signup) -> None:
    a = signup()
    usd = open_account(client, a, "USD")
    for acct in (a.account_id, usd):
        r = client.post("/v1/payees", json={"name": "Me", "account_id": acct}, headers=a.headers)
        problem(r, 400, "same_account", "account_id")
    assert _listed(client, a) == []


def test_customers_cannot_see_or_delete_each_others_payees(client: TestClient, container: Container, signup) -> None:
    a, b, c = signup(), signup(), signup()
    a_payee = add_payee(client, a, c.account_id, "Carol")
    assert _listed(client, b) == []
    problem(client.delete(f"/v1/payees/{a_payee}", headers=b.headers), 404, "not_found", "payee_id")
    assert [p["id"] for p in _listed(client, a)] == [a_payee]
    # nor can B quote or pay with A's payee
    q = client.post(
        "/v1/transfers/quote",
        json={"from_account": b.account_id, "payee_id": a_payee, "amount": 100, "currency": "CNY"},
        headers=b.headers,
    )
    problem(q, 404, "not_found", "payee_id")


def test_malformed_payee_id(client: TestClient, signup) -> None:
    a = signup()
    problem(client.delete("/v1/payees/pye_nope", headers=a.headers), 400, "invalid_id", "payee_id")
    problem(client.delete("/v1/payees/" + "acct_" + "1" * 26, headers=a.headers), 400, "invalid_id", "payee_id")


def test_payees_need_a_customer(client: TestClient, signup, teller) -> None:
    problem(client.get("/v1/payees"), 401, "unauthenticated")
    problem(client.get("/v1/payees", headers=teller), 403, "forbidden")
