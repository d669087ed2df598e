"""Rendering: one Jinja2 environment per language (autoescape on, ``_()`` through Babel translations)."""

from __future__ import annotations

import secrets
from functools import cache
from pathlib import Path
from typing import Any, Final

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from pocketbank.domain.ids import IdKind, format_id
from pocketbank.errors import AccountLocked, PocketBankError
from pocketbank.web import i18n
from pocketbank.web.jinja_i18n import TRANSLATIONS_ATTRIBUTE, ConstantGettext
from pocketbank.web.session import CSRF_FIELD, web

TEMPLATES: Final = Path(__file__).parent / "templates"


@cache
def environment(locale: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n", ConstantGettext],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # the templates ship with the package: no stat() of each template file at every render
    )
    translations = i18n.translations(locale)
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    env.extend(**{TRANSLATIONS_ATTRIBUTE: translations})  # for ConstantGettext, when it compiles a template
    env.globals["error_text"] = i18n.error_text
    env.globals["fmt_id"] = lambda kind, number: format_id(IdKind(kind), number)
    env.globals["CSRF_FIELD"] = CSRF_FIELD
    env.globals["html_lang"] = "zh-CN" if locale == "zh_CN" else "en"
    return env


def render(request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200) -> Response:
    w = web(request)
    env = environment(w.locale)
    ctx: dict[str, Any] = {
        "request": request,
        "locale": w.locale,
        "csrf_token": w.csrf_token,
        "signed_in": w.principal is not None,
        "staff": w.principal is not None and w.principal.is_staff,
        "principal": w.principal,
        "money": lambda minor, currency="CNY": i18n.money(minor, currency, w.locale),
        "when": lambda ns, fmt="medium": i18n.when(ns, w.locale, fmt),
        "errors": {},
        "values": {},
        "path": request.url.path,
    }
    ctx.update(context or {})
    html = env.get_template(template).render(ctx)
    response = HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})
    return w.apply(response)


def login_refused(request: Request, template: str, exc: PocketBankError, context: dict[str, Any]) -> Response:
    """A login form shown again after a refusal: 423 with ``Retry-After`` while the account is locked (as the JSON API
    answers: a lock is waited out, a mistyped password retyped), 400 otherwise."""
    if isinstance(exc, AccountLocked):
        locked = render(request, template, context, 423)
        locked.headers["Retry-After"] = str(exc.retry_after)
        return locked
    return render(request, template, context, 400)


def redirect(request: Request, url: str) -> Response:
    """303 See Other (after a POST), with any cookies the request set."""
    return web(request).apply(RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"}))


def form_key() -> str:
    """A fresh per-form idempotency key (a hidden field: submitting the same form twice moves money once)."""
    return secrets.token_urlsafe(18)
