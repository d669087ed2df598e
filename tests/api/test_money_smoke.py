from __future__ import annotations

from auth_helpers import last_code
from fastapi.testclient import TestClient

from pocketbank.bootstrap import Container


def test_smoke(client: TestClient, container: Container, signup, teller) -> None:
    a = signup()
    b = signup()
    r = client.get("/v1/accounts", headers=a.headers)
    assert r.status_code == 200, r.text
    acct_a = r.json()["data"][0]["id"]
    assert acct_a == a.account_id
    r = client.post(
        "/v1/staff/deposits", json={"account_id": acct_a, "amount": 100000}, headers={**teller, "Idempotency-Key": "d1"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["balance"] == 100000
    r = client.post("/v1/payees", json={"name": "Bob", "account_id": b.account_id}, headers=a.headers)
    assert r.status_code == 201, r.text
    payee = r.json()["id"]
    q = client.post(
        "/v1/transfers/quote",
        json={"from_account": acct_a, "payee_id": payee, "amount": 1234, "currency": "CNY"},
        headers=a.headers,
    )
    assert q.status_code == 200, q.text
    print(q.json())
    r = client.post(
        "/v1/step-up/challenges",
        json={"method": "sms", "amount": 1234, "currency": "CNY", "payee": payee},
        headers=a.headers,
    )
    assert r.status_code == 201, r.text
    ch = r.json()["id"]
    code = last_code(container, a.phone)
    body = {
        "from_account": acct_a,
        "payee_id": payee,
        "amount": 1234,
        "currency": "CNY",
        "step_up": {"challenge_id": ch, "code": code},
    }
    r = client.post("/v1/transfers", json=body, headers={**a.headers, "Idempotency-Key": "k1"})
    assert r.status_code == 201, r.text
    print(r.json())
    r2 = client.post("/v1/transfers", json=body, headers={**a.headers, "Idempotency-Key": "k1"})
    assert r2.status_code == 201 and r2.headers.get("idempotent-replayed") == "true" and r2.json() == r.json()
    r = client.get(f"/v1/accounts/{acct_a}", headers=a.headers)
    assert r.json()["balance"] == 100000 - 1234, r.text
    r = client.get(f"/v1/accounts/{b.account_id}", headers=b.headers)
    assert r.json()["balance"] == 1234
    r = client.get(f"/v1/accounts/{acct_a}/transactions", headers=a.headers)
    assert r.status_code == 200, r.text
    print(r.json())
    r = client.get(f"/v1/accounts/{acct_a}", headers=b.headers)
    assert r.status_code == 404
    assert container.ledger.verify().ok and container.audit.verify() == []
