"""Login, sessions, devices, password, TOTP, PIN and step-up through the API, on every engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyotp
from auth_helpers import SignedUp, last_code
from fastapi.testclient import TestClient

from pocketbank.bootstrap import Container
from pocketbank.domain.clock import ManualClock
from pocketbank.domain.stepup import binding_digest

Signup = Callable[..., SignedUp]


def login(client: TestClient, who: SignedUp, password: str | None = None, **extra: Any) -> Any:
    body = {"phone": who.phone, "password": password or who.password, "device_id": who.device_id, **extra}
    return client.post("/v1/sessions", json=body)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_login_on_trusted_device(client: TestClient, signup: Signup) -> None:
    a = signup()
    r = login(client, a)
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["object"] == "session" and s["token_type"] == "Bearer"
    assert s["device_id"] == a.device_id
    assert client.get("/v1/customers/me", headers=bearer(s["access_token"])).json()["id"] == a.id


def test_wrong_password_and_unknown_phone_look_the_same(client: TestClient, signup: Signup) -> None:
    a = signup()
    wrong = client.post("/v1/sessions", json={"phone": a.phone, "password": "not my password at all"})
    unknown = client.post("/v1/sessions", json={"phone": "13700000000", "password": "not my password at all"})
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda body: {k: v for k, v in body.items() if k != "request_id"}  # noqa: E731
    assert strip(wrong.json()) == strip(unknown.json())
    assert wrong.json()["code"] == "invalid_credentials"


def test_lockout_and_backoff(client: TestClient, signup: Signup, clock: ManualClock) -> None:
    a = signup()
    for _ in range(5):
        assert login(client, a, "wrong password here").json()["code"] == "invalid_credentials"
    r = login(client, a)  # even the right password is refused while locked
    assert r.status_code == 423
    assert r.json()["code"] == "account_locked"
    assert 0 < int(r.headers["Retry-After"]) <= 60
    clock.advance(61)
    # The 6th consecutive failure locks for twice as long.
    assert login(client, a, "wrong password here").status_code == 401
    r = login(client, a)
    assert r.status_code == 423 and 60 < int(r.headers["Retry-After"]) <= 120
    clock.advance(121)
    assert login(client, a).status_code == 201  # recovered; the count is reset
    assert login(client, a, "wrong password here").status_code == 401
    assert login(client, a).status_code == 201


def test_new_device_needs_the_sms_code(client: TestClient, container: Container, signup: Signup) -> None:
    a = signup()
    r = client.post("/v1/sessions", json={"phone": a.phone, "password": a.password, "device_label": "tablet"})
    assert r.status_code == 202, r.text
    ch = r.json()
    assert ch["object"] == "device_challenge" and ch["device_id"] != a.device_id
    bad = client.post("/v1/sessions/device-confirmations", json={"challenge_id": ch["challenge_id"], "code": "12345x"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_code"
    code = last_code(container, a.phone)
    ok = client.post("/v1/sessions/device-confirmations", json={"challenge_id": ch["challenge_id"], "code": code})
    assert ok.status_code == 201, ok.text
    assert ok.json()["device_id"] == ch["device_id"]
    again = client.post("/v1/sessions/device-confirmations", json={"challenge_id": ch["challenge_id"], "code": code})
    assert again.json()["code"] == "invalid_code"  # single use
    # The new device is trusted from now on, and the transfer service can see since when.
    assert login(client, a, device_id=ch["device_id"]).status_code == 201
    principal = container.auth.authenticate(ok.json()["access_token"], container.clock.now_ns())
    assert container.auth.device_trusted_at(principal) == container.clock.now_ns()


def test_refresh_rotation_and_reuse_detection(client: TestClient, signup: Signup) -> None:
    a = signup()
    r1 = client.post("/v1/sessions/refresh", json={"refresh_token": a.refresh_token})
    assert r1.status_code == 200, r1.text
    new = r1.json()
    assert new["id"] == a.session_id and new["refresh_token"] != a.refresh_token
    assert client.get("/v1/customers/me", headers=bearer(a.access_token)).status_code == 401  # old access is gone
    assert client.get("/v1/customers/me", headers=bearer(new["access_token"])).status_code == 200
    # Replaying the old refresh token: someone has a copy, so the whole session ends.
    reuse = client.post("/v1/sessions/refresh", json={"refresh_token": a.refresh_token})
    assert reuse.status_code == 401
    assert client.get("/v1/customers/me", headers=bearer(new["access_token"])).status_code == 401
    assert client.post("/v1/sessions/refresh", json={"refresh_token": new["refresh_token"]}).status_code == 401


def test_access_token_expires_after_15_minutes(client: TestClient, signup: Signup, clock: ManualClock) -> None:
    a = signup()
    for _ in range(3):  # stay active, but the access token still ages out
        clock.advance(240)
        assert client.get("/v1/customers/me", headers=a.headers).status_code == 200
    clock.advance(181)  # 901 s after login
    r = client.get("/v1/customers/me", headers=a.headers)
    assert r.status_code == 401 and r.json()["code"] == "session_expired"
    assert client.post("/v1/sessions/refresh", json={"refresh_token": a.refresh_token}).status_code == 200


def test_idle_timeout(client: TestClient, signup: Signup, clock: ManualClock) -> None:
    a = signup()
    clock.advance(299)
    assert client.get("/v1/customers/me", headers=a.headers).status_code == 200
    clock.advance(301)
    r = client.get("/v1/customers/me", headers=a.headers)
    assert r.status_code == 401 and r.json()["code"] == "session_expired"
    assert client.post("/v1/sessions/refresh", json={"refresh_token": a.refresh_token}).status_code == 401


def test_logout_and_logout_everywhere(client: TestClient, signup: Signup) -> None:
    a = signup()
    other = login(client, a).json()
    assert client.delete("/v1/sessions/current", headers=a.headers).status_code == 204
    assert client.get("/v1/customers/me", headers=a.headers).status_code == 401
    assert client.get("/v1/customers/me", headers=bearer(other["access_token"])).status_code == 200
    third = login(client, a).json()
    r = client.post("/v1/sessions/logout-all", headers=bearer(other["access_token"]))
    assert r.status_code == 200 and r.json()["sessions_ended"] == 2
    for token in (other["access_token"], third["access_token"]):
        assert client.get("/v1/customers/me", headers=bearer(token)).status_code == 401


def test_password_change_ends_other_sessions(client: TestClient, signup: Signup) -> None:
    a = signup()
    other = login(client, a).json()
    r = client.post("/v1/password", headers=a.headers, json={"old_password": "wrong one!!", "new_password": "x" * 3})
    assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"
    r = client.post("/v1/password", headers=a.headers, json={"old_password": a.password, "new_password": "12345678"})
    assert r.status_code == 400 and r.json()["code"] == "weak_password"
    new = "quiet river copper 77"
    r = client.post("/v1/password", headers=a.headers, json={"old_password": a.password, "new_password": new})
    assert r.status_code == 200 and r.json()["other_sessions_ended"] == 1
    assert client.get("/v1/customers/me", headers=a.headers).status_code == 200
    assert client.get("/v1/customers/me", headers=bearer(other["access_token"])).status_code == 401
    assert login(client, a).status_code == 401
    assert login(client, a, new).status_code == 201


def test_devices_list_revoke_and_object_level_authz(client: TestClient, container: Container, signup: Signup) -> None:
    a, b = signup(), signup()
    r = client.get("/v1/devices", headers=a.headers)
    assert r.status_code == 200
    devices = r.json()["data"]
    assert [d["id"] for d in devices] == [a.device_id] and devices[0]["current"] is True
    # B cannot see or revoke A's device: it does not exist for B.
    assert a.device_id not in [d["id"] for d in client.get("/v1/devices", headers=b.headers).json()["data"]]
    r = client.delete(f"/v1/devices/{a.device_id}", headers=b.headers)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert client.get("/v1/customers/me", headers=a.headers).status_code == 200
    # A trusts a second device, then revokes it from the first: its sessions end.
    ch = client.post("/v1/sessions", json={"phone": a.phone, "password": a.password}).json()
    code = last_code(container, a.phone)
    tablet = client.post("/v1/sessions/device-confirmations", json={"challenge_id": ch["challenge_id"], "code": code})
    assert client.delete(f"/v1/devices/{ch['device_id']}", headers=a.headers).status_code == 204
    assert client.get("/v1/customers/me", headers=bearer(tablet.json()["access_token"])).status_code == 401
    assert client.delete(f"/v1/devices/{ch['device_id']}", headers=a.headers).status_code == 404
    assert client.delete("/v1/devices/not-an-id", headers=a.headers).status_code == 400
    # A revoked device needs the SMS code again.
    assert login(client, a, device_id=ch["device_id"]).status_code == 202


def enable_totp(client: TestClient, clock: ManualClock, who: SignedUp) -> pyotp.TOTP:
    r = client.post("/v1/totp", headers=who.headers)
    assert r.status_code == 201, r.text
    assert r.json()["otpauth_uri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(r.json()["secret"])
    now = clock.now_ns() // 10**9
    r = client.post("/v1/totp/confirm", headers=who.headers, json={"code": totp.at(now)})
    assert r.status_code == 200, r.text
    return totp


def test_totp_enrol_and_replay_refused(client: TestClient, signup: Signup, clock: ManualClock) -> None:
    a = signup()
    r = client.post("/v1/totp/confirm", headers=a.headers, json={"code": "123456"})
    assert r.status_code == 409 and r.json()["code"] == "method_not_enrolled"
    totp = enable_totp(client, clock, a)
    assert client.get("/v1/customers/me", headers=a.headers).json()["totp_enabled"] is True
    assert client.post("/v1/totp", headers=a.headers).status_code == 409
    binding = binding_digest(a.id, 500, "CNY", "acct_payee")
    body = {"method": "totp", "amount": 500, "currency": "CNY", "payee": "acct_payee"}
    ch1 = client.post("/v1/step-up/challenges", headers=a.headers, json=body).json()
    ch2 = client.post("/v1/step-up/challenges", headers=a.headers, json=body).json()
    principal = client.app.state.container.auth.authenticate(a.access_token, clock.now_ns())  # type: ignore[attr-defined]
    verifier = client.app.state.container.auth  # type: ignore[attr-defined]
    # The code used to activate the app cannot be used again (same time step).
    code = totp.at(clock.now_ns() // 10**9)
    try:
        verifier.verify(principal, ch1["id"], code, binding, clock.now_ns())
        raise AssertionError("a replayed TOTP code was accepted")
    except Exception as exc:
        assert getattr(exc, "code", None) == "step_up_failed"
    clock.advance(30)
    code = totp.at(clock.now_ns() // 10**9)
    assert verifier.verify(principal, ch1["id"], code, binding, clock.now_ns()).value == "totp"
    try:  # the same new code on another challenge: replay
        verifier.verify(principal, ch2["id"], code, binding, clock.now_ns())
        raise AssertionError("a replayed TOTP code was accepted")
    except Exception as exc:
        assert getattr(exc, "code", None) == "step_up_failed"


def step_up(
    client: TestClient, who: SignedUp, amount: int = 10_000, payee: str = "acct_bob", method: str = "sms"
) -> Any:
    body = {"method": method, "amount": amount, "currency": "CNY", "payee": payee}
    return client.post("/v1/step-up/challenges", headers=who.headers, json=body)


def test_step_up_sms_binding_and_single_use(client: TestClient, container: Container, signup: Signup) -> None:
    a = signup()
    r = step_up(client, a)
    assert r.status_code == 201, r.text
    ch = r.json()
    assert ch["id"].startswith("chl_") and ch["method"] == "sms"
    sms = container.sms.sent[-1]  # type: ignore[attr-defined]
    assert "100.00 CNY" in sms.text and "acct_bob" in sms.text
    code = last_code(container, a.phone)
    principal = container.auth.authenticate(a.access_token, container.clock.now_ns())
    now = container.clock.now_ns()
    right = binding_digest(a.id, 10_000, "CNY", "acct_bob")
    other = binding_digest(a.id, 10_000, "CNY", "acct_mallory")
    errors = []
    try:  # the right code for a different payee fails, and burns the challenge
        container.auth.verify(principal, ch["id"], code, other, now)
    except Exception as exc:
        errors.append(getattr(exc, "code", None))
    try:
        container.auth.verify(principal, ch["id"], code, right, now)
    except Exception as exc:
        errors.append(getattr(exc, "code", None))
    assert errors == ["step_up_failed", "step_up_failed"]
    ch2 = step_up(client, a).json()
    code2 = last_code(container, a.phone)
    assert container.auth.verify(principal, ch2["id"], code2, right, now).value == "sms"
    try:  # a step-up code works once
        container.auth.verify(principal, ch2["id"], code2, right, now)
        raise AssertionError("a used step-up code was accepted")
    except Exception as exc:
        assert getattr(exc, "code", None) == "step_up_failed"


def test_step_up_attempts_expiry_and_ownership(client: TestClient, container: Container, signup: Signup) -> None:
    a, b = signup(), signup()
    right = binding_digest(a.id, 10_000, "CNY", "acct_bob")
    pa = container.auth.authenticate(a.access_token, container.clock.now_ns())
    pb = container.auth.authenticate(b.access_token, container.clock.now_ns())
    now = container.clock.now_ns()

    def fails(principal: Any, cid: str, code: str, at: int) -> bool:
        try:
            container.auth.verify(principal, cid, code, right, at)
        except Exception as exc:
            return getattr(exc, "code", None) == "step_up_failed"
        return False

    ch = step_up(client, a).json()
    code = last_code(container, a.phone)
    wrong = "000000" if code != "000000" else "111111"
    assert fails(pb, ch["id"], code, now)  # B cannot use A's challenge
    assert all(fails(pa, ch["id"], wrong, now) for _ in range(3))
    assert fails(pa, ch["id"], code, now)  # three strikes: gone
    ch = step_up(client, a).json()
    assert fails(pa, ch["id"], last_code(container, a.phone), now + 301 * 10**9)  # 5 minutes
    assert fails(pa, "chl_nonsense", "123456", now)
    assert step_up(client, a, method="pin").json()["code"] == "method_not_enrolled"
    assert step_up(client, a, amount=0).status_code == 400


def test_set_pin_then_step_up_with_pin(client: TestClient, container: Container, signup: Signup) -> None:
    a = signup()
    ch = client.post("/v1/pin/challenges", headers=a.headers).json()
    code = last_code(container, a.phone)
    r = client.post("/v1/pin", headers=a.headers, json={"pin": "123456", "challenge_id": ch["id"], "code": code})
    assert r.status_code == 400 and r.json()["code"] == "weak_password"
    r = client.post("/v1/pin", headers=a.headers, json={"pin": "480213", "challenge_id": ch["id"], "code": "000000"})
    assert r.status_code == 403 and r.json()["code"] == "step_up_failed"
    r = client.post("/v1/pin", headers=a.headers, json={"pin": "480213", "challenge_id": ch["id"], "code": code})
    assert r.status_code == 204, r.text
    assert client.get("/v1/customers/me", headers=a.headers).json()["pin_set"] is True
    # A payment step-up code cannot set the PIN (different binding).
    pay = step_up(client, a).json()
    r = client.post(
        "/v1/pin",
        headers=a.headers,
        json={"pin": "480219", "challenge_id": pay["id"], "code": last_code(container, a.phone)},
    )
    assert r.json()["code"] == "step_up_failed"
    pin_ch = step_up(client, a, method="pin").json()
    principal = container.auth.authenticate(a.access_token, container.clock.now_ns())
    binding = binding_digest(a.id, 10_000, "CNY", "acct_bob")
    assert container.auth.verify(principal, pin_ch["id"], "480213", binding, container.clock.now_ns()).value == "pin"


def test_login_rate_limited(client: TestClient, signup: Signup) -> None:
    a = signup()
    codes = [login(client, a, "wrong password here").status_code for _ in range(21)]
    assert codes[-1] == 429
    assert set(codes[:-1]) <= {401, 423}
