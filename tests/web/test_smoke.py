"""Smoke: Playwright drives Debian's Chromium against the live server. If this fails, every browser test would."""

from __future__ import annotations

from typing import Any

from web_helpers import LiveServer, shot


def test_chromium_opens_the_live_server(browser: Any, page: Any, live_server: LiveServer) -> None:
    print(f"Chromium {browser.version} driven by Playwright")
    assert browser.version.split(".")[0].isdigit(), browser.version
    status, _ = live_server.get("/")
    if status == 200:  # the mobile web app is mounted
        response = page.goto(live_server.url + "/")
        assert response is not None
        assert response.ok, response.status
        assert page.title().strip(), "the welcome page has no <title>"
        assert page.locator("body").inner_text().strip(), "the welcome page shows nothing"
        shot(page, "smoke-welcome")
        assert page.evaluate("window.innerWidth") == 390, "no <meta name=viewport> for phones?"
    else:  # not yet: the JSON API answers in the browser all the same
        response = page.goto(live_server.url + "/v1/health")
        assert response is not None
        assert response.status == 200
        assert '"status":"ok"' in page.locator("body").inner_text().replace(" ", "")
        shot(page, "smoke-health")
    assert page.evaluate("screen.width") == 390
    assert page.evaluate("navigator.maxTouchPoints") > 0
