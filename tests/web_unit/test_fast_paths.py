"""What makes pages fast leaves them the same: formatting, translations, Server-Timing, one page view at a time."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest
from babel.dates import format_datetime
from fastapi import FastAPI
from fastapi.testclient import TestClient
from jinja2 import DictLoader, Environment, select_autoescape
from web_unit_helpers import register

from pocketbank.bootstrap import Container
from pocketbank.domain.money import Money, default_registry
from pocketbank.web import i18n
from pocketbank.web.jinja_i18n import TRANSLATIONS_ATTRIBUTE, ConstantGettext
from pocketbank.web.page_limit import PageLimitMiddleware

SERVER_TIMING = re.compile(r"^app;dur=[0-9]+\.[0-9]{2}$")


def test_page_views_report_their_server_time(client: TestClient, container: Container) -> None:
    for path in ("/", "/login", "/offline", "/nope"):
        assert SERVER_TIMING.match(client.get(path).headers["server-timing"]), path
    register(client, container)
    r = client.get("/home")
    assert r.status_code == 200 and SERVER_TIMING.match(r.headers["server-timing"])
    assert "server-timing" not in client.get("/v1/health").headers  # the JSON API is left as it is
    assert "server-timing" not in client.post("/login", data={"phone": "13900000000"}).headers  # nor form posts


AMOUNTS = [0, 1, -1, 9, 10, 99, 100, -100, 12_345, -987_654, 10**9 + 7, -(10**12), 10**15 - 1, 10**15, -(2**63 - 1)]


def test_money_is_formatted_as_babel_formats_it() -> None:
    for asset in default_registry().all():
        for locale in i18n.LOCALES:
            for minor in AMOUNTS + [n * 7_919 - 40_000 for n in range(300)]:
                assert i18n.money(minor, asset.code, locale) == Money(minor, asset).format(locale)


def test_times_are_formatted_as_babel_formats_them() -> None:
    for n in range(200):
        ns = (1_600_000_000 + n * 7_654_321) * 10**9 + n * 1_234_567
        at = datetime.fromtimestamp(ns / 10**9, tz=UTC)
        for locale in i18n.LOCALES:
            for fmt in ("short", "medium", "long", "full", "yyyy-MM-dd HH:mm"):
                expected = format_datetime(at, format=fmt, tzinfo=i18n.TIMEZONE, locale=locale)
                assert i18n.when(ns, locale, fmt) == expected
    assert i18n.when(None, "en") == ""


TEMPLATES = {
    "page.html": (
        '{% macro m(x) %}[{{ x }}]{% endmacro %}<p>{{ _("Home") }}{{ _("a < b & c") }}</p>'
        '<p title="{{ _(\'Transfer\') }}">{{ _("100%% safe") }}</p>'
        '{{ _("Hello, %(name)s", name=who) }}{{ thing._("Home") }}{{ _("Home")|upper }}'
        '{% set label = _("Payees") %}{{ label }}{{ m(_("Security")) }}{{ _("Home") ~ who }}'
    ),
    "raw.txt": '{{ _("Home") ~ who }} {{ _("100%% safe") }}',
    "block.html": '{% autoescape false %}{{ _("Home") ~ who }}{% endautoescape %}',
}


class Thing:
    @staticmethod
    def _(text: str) -> str:
        return f"attribute {text}"


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_constant_translations_render_as_gettext_renders_them(locale: str) -> None:
    def env(folded: bool) -> Environment:
        e = Environment(
            loader=DictLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            extensions=["jinja2.ext.i18n", *([ConstantGettext] if folded else [])],
        )
        e.install_gettext_translations(i18n.translations(locale), newstyle=True)  # type: ignore[attr-defined]
        e.extend(**{TRANSLATIONS_ATTRIBUTE: i18n.translations(locale)})
        return e

    plain, folded = env(False), env(True)
    context = {"who": "<b>Li</b>", "thing": Thing()}
    for name in TEMPLATES:
        assert folded.get_template(name).render(context) == plain.get_template(name).render(context), name
    if locale == "zh_CN":
        assert "首页" in folded.get_template("page.html").render(context)


def _scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "headers": []}


def test_page_views_queue_while_posts_and_the_api_do_not() -> None:
    entered: list[str] = []

    async def scenario() -> None:
        release = anyio.Event()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            entered.append(f"{scope['method']} {scope['path']}")
            if scope["path"] == "/slow":
                await release.wait()

        async def noop(*_: Any) -> None:
            return None

        limited = PageLimitMiddleware(app, at_once=1, skip=("/v1", "/static"))
        async with anyio.create_task_group() as tg:
            tg.start_soon(limited, _scope("GET", "/slow"), noop, noop)
            await anyio.wait_all_tasks_blocked()
            for method, path in (("GET", "/home"), ("POST", "/login"), ("GET", "/v1/health"), ("GET", "/static/a")):
                tg.start_soon(limited, _scope(method, path), noop, noop)
            await anyio.wait_all_tasks_blocked()
            assert sorted(entered) == ["GET /slow", "GET /static/a", "GET /v1/health", "POST /login"]
            release.set()

    # In a thread of its own: after the browser tests, Playwright's sync API has left an event loop running in the
    # main thread, and anyio.run refuses to start a second one there.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(anyio.run, scenario).result(timeout=30)
    assert entered[-1] == "GET /home"  # its turn came when the slow page was done


def test_sqlite_serves_one_page_view_at_a_time(app: FastAPI, db_url: str) -> None:
    limits = [m.kwargs["at_once"] for m in app.user_middleware if m.cls is PageLimitMiddleware]
    assert limits == [1 if db_url.startswith("sqlite") else 4]
