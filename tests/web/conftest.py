"""Browser tests: the mobile web app in a real headless Chromium against an in-process live server.

* ``live_server``: a container on a fresh SQLite file (or, parametrized indirectly with ``"postgres"``, a fresh
  PostgreSQL schema) with the real system clock (cookies and sessions need real time), its FastAPI app served by
  uvicorn in a background thread on a free loopback port. Tests read SMS codes from ``live_server.container.sms``
  and seed data through the services (``seed``: ``web_helpers.Seeder``).
* Browser fixtures come from pytest-playwright (``browser``, ``context``, ``page``, ``new_context``); this file only
  configures them: Debian's Chromium (``/usr/bin/chromium``; ``playwright install`` cannot download browsers here),
  a phone's viewport (390×844, mobile, touch, an Android Chrome user agent), service workers blocked (so that
  ``page.route`` sees every request) and a locale per test (the ``lang`` fixture: ``en`` unless a test
  parametrizes it).
* ``web_helpers.shot(page, name)`` saves a full-page screenshot to ``test-artefacts/screenshots/<lang>/<name>.png``.

Without Playwright or Chromium the tests skip, or fail when ``POCKETBANK_REQUIRE_SERVICES=1`` (as in CI).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from web_helpers import (
    ANDROID_CHROME_UA,
    CHROMIUM_ARGS,
    LOCALES,
    PHONE_VIEWPORT,
    LiveServer,
    Seeder,
    relax_rate_limits,
    remember_lang,
    serve,
    stop,
)

from pbtest import missing_service
from pocketbank.api.app import create_app
from pocketbank.bootstrap import build_container
from pocketbank.config import Settings

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)


# --- Chromium through pytest-playwright ------------------------------------------------------------------------


def chromium_path() -> str | None:
    found = os.environ.get("POCKETBANK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return found if Path(found).exists() else None


@pytest.fixture(scope="session", autouse=True)
def _browser_available() -> None:
    """Every browser test needs Playwright and Debian's Chromium: skip (or fail in CI) without them."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the dev extra installs it
        missing_service(f"Playwright is not installed: {exc}")
    if chromium_path() is None:
        missing_service(
            "Chromium not found (apt-get install chromium; `playwright install` cannot download browsers here)"
        )


@pytest.fixture(scope="session")
def base_url() -> str | None:
    """Replaces pytest-playwright's fallback ``base_url`` (an instance-method session fixture: deprecated in pytest
    9, an error under ``filterwarnings = error``). Tests build URLs from ``live_server.url``."""
    return None


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    path = chromium_path()
    if path is None:
        missing_service("Chromium not found: apt-get install chromium")
    return {**browser_type_launch_args, "executable_path": path, "headless": True, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_context_args,
        "viewport": PHONE_VIEWPORT,
        "screen": PHONE_VIEWPORT,
        "device_scale_factor": 1,
        "is_mobile": True,
        "has_touch": True,
        "user_agent": ANDROID_CHROME_UA,
        "timezone_id": "Asia/Shanghai",
        "service_workers": "block",
    }


@pytest.fixture
def lang() -> str:
    """The UI language of the test (``en``); flow tests parametrize it over ``web_helpers.LANGS``."""
    return "en"


@pytest.fixture
def context(new_context: Callable[..., Any], lang: str) -> Any:
    ctx = new_context(locale=LOCALES[lang])
    ctx.set_default_timeout(10_000)
    ctx.set_default_navigation_timeout(15_000)
    remember_lang(ctx, lang)
    return ctx


# --- the live server -------------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite"])
def live_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    """The app on a free port; ``@pytest.mark.parametrize("live_server", ["postgres"], indirect=True)`` for PG."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path / 'web.db'}"
    settings = Settings(
        database_url=url, password_hash_profile="fast", sms_sender="memory", redis_url=None, log_level="WARNING"
    )
    container = build_container(settings)  # the real SystemClock: the browser's cookies and timers need real time
    relax_rate_limits(container)
    server, thread, port = serve(create_app(container))
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", container)
    finally:
        stop(server, thread)
        container.close()


@pytest.fixture
def seed(live_server: LiveServer) -> Seeder:
    return Seeder(live_server)
