"""Errors as RFC 9457 ``application/problem+json`` with Stripe's members: ``code``, ``param``, ``request_id``.

Every deliberate refusal is a ``PocketBankError`` with a stable code; this module only decides its HTTP status.
Anything else is a 500 with a generic message (the details go to the log, never to the client).
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pocketbank.errors import PocketBankError

PROBLEM = "application/problem+json"
TYPE_BASE = "https://pocketbank.dev/errors/"

# Status by machine code; anything not listed is 400 (the request was wrong) .
STATUS: dict[str, int] = {
    "not_found": 404,
    "unauthenticated": 401,
    "session_expired": 401,
    "invalid_credentials": 401,
    "forbidden": 403,
    "step_up_required": 403,
    "step_up_failed": 403,
    "account_locked": 423,
    "rate_limited": 429,
    "conflict": 409,
    "idempotency_key_in_use": 409,
    "idempotency_key_reused": 422,
    "insufficient_funds": 402,
    "limit_exceeded": 402,
    "quota_exceeded": 402,
    "account_closed": 409,
    "account_not_empty": 409,
    "transfer_not_cancellable": 409,
    "transfer_not_reversible": 409,
    "payee_cooling_off": 402,
    "market_closed": 409,
    "already_registered": 409,
    "method_not_enrolled": 409,
}

log = structlog.get_logger("pocketbank.api")


def request_id(request: Request) -> str:
    rid: str = getattr(request.state, "request_id", "")
    return rid


def problem(
    request: Request, status: int, code: str, title: str, detail: str, param: str | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "param": param,
        "request_id": request_id(request),
    }
    body.update(extra)
    headers = {"Retry-After": str(extra["retry_after"])} if "retry_after" in extra else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _title(code: str) -> str:
    return code.replace("_", " ").capitalize()


def install(app: FastAPI) -> None:
    @app.exception_handler(PocketBankError)
    async def _domain(request: Request, exc: PocketBankError) -> JSONResponse:
        retry_after = getattr(exc, "retry_after", None)
        extra = {"retry_after": retry_after} if retry_after else {}
        return problem(request, STATUS.get(exc.code, 400), exc.code, _title(exc.code), exc.message, exc.param, **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"param": ".".join(str(p) for p in e["loc"] if p != "body"), "code": e["type"], "message": e["msg"]}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"param": None, "code": "invalid_request", "message": "invalid request"}
        code = "unknown_field" if first["code"] == "extra_forbidden" else "invalid_request"
        return problem(request, 400, code, _title(code), str(first["message"]), first["param"], errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}.get(exc.status_code, "http_error")
        return problem(request, exc.status_code, code, _title(code), str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", request_id=request_id(request))
        return problem(request, 500, "internal_error", "Internal error", "something went wrong on our side")
