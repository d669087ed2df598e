"""Security headers, CSRF, no-store, idle logout, no inline script/style, error pages."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from web_unit_helpers import PASSWORD, csrf, register

from pocketbank.bootstrap import Container
from pocketbank.domain.clock import ManualClock
from pocketbank.web.security import CSP

PUBLIC = ["/", "/login", "/register", "/offline", "/staff/login"]


def test_pages_carry_csp_and_security_headers(client: TestClient) -> None:
    for path in PUBLIC:
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-security-policy"] == CSP
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
    r = client.get("/static/app.css")
    assert r.headers["x-content-type-options"] == "nosniff"


def test_json_api_is_unchanged(client: TestClient) -> None:
    r = client.get("/v1/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = client.get("/v1/nope")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")


def test_post_without_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/login")
    r = client.post("/login", data={"phone": "13900000000", "password": "x"})
    assert r.status_code == 403 and "text/html" in r.headers["content-type"]
    assert 'data-code="csrf"' in r.text
    r = client.post("/login", data={"csrf_token": "0" * 64, "phone": "13900000000", "password": "x"})
    assert r.status_code == 403


def test_csrf_token_of_another_browser_is_refused(new_client: Callable[[], TestClient]) -> None:
    a, b = new_client(), new_client()
    token = csrf(a, "/login")
    csrf(b, "/login")
    r = b.post("/login", data={"csrf_token": token, "phone": "13900000000", "password": "x"})
    assert r.status_code == 403


def test_cookies_are_host_prefixed_httponly_secure_strict(client: TestClient, container: Container) -> None:
    customer = register(client, container)
    token = csrf(client, "/home")
    client.post("/logout", data={"csrf_token": token})
    token = csrf(client, "/login")
    r = client.post(
        "/login", data={"csrf_token": token, "phone": customer.phone, "password": PASSWORD}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/home"
    raw = r.headers.get_list("set-cookie")
    assert any(c.startswith("__Host-pb_session=") for c in raw)
    for c in raw:
        assert "HttpOnly" in c and "Secure" in c and "SameSite=strict" in c and "Path=/" in c and "Domain" not in c


def test_authenticated_pages_are_no_store(client: TestClient, container: Container) -> None:
    register(client, container)
    for path in ["/home", "/transfer", "/payees", "/security", "/limits"]:
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.headers["cache-control"] == "no-store", path


def test_no_inline_script_style_or_handlers(client: TestClient, container: Container) -> None:
    register(client, container)
    for path in ["/", "/home", "/transfer", "/payees", "/security", "/limits", "/login", "/register"]:
        html = client.get(path).text
        assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html), path
        assert "<style" not in html and " style=" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path


def test_idle_session_goes_to_login(client: TestClient, container: Container, clock: ManualClock) -> None:
    register(client, container)
    clock.advance(6 * 60)
    r = client.get("/home")
    assert r.url.path == "/login" and "5" in r.text and 'id="idle-notice"' in r.text


def test_access_token_is_refreshed(client: TestClient, container: Container, clock: ManualClock) -> None:
    register(client, container)
    before = client.cookies.get("__Host-pb_session")
    for _ in range(5):  # 20 minutes of activity, past the 15-minute access token
        clock.advance(4 * 60)
        assert client.get("/home").url.path == "/home"
    assert client.cookies.get("__Host-pb_session") != before


def test_logged_out_pages_redirect_to_login(client: TestClient) -> None:
    for path in ["/home", "/transfer", "/security"]:
        assert client.get(path).url.path == "/login"
    assert client.get("/staff").url.path == "/staff/login"


def test_404_page_and_error_page(client: TestClient, container: Container) -> None:
    r = client.get("/no-such-page")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"] and "Page not found" in r.text
    register(client, container)
    r = client.get("/transfers/tr_00000000000000000000000001")
    assert r.status_code == 404 and 'data-code="not_found"' in r.text


def test_logout_idle_get(client: TestClient, container: Container) -> None:
    register(client, container)
    r = client.get("/logout?reason=idle")
    assert r.url.path == "/login"
    assert client.get("/home").url.path == "/login"
