"""Request ids: every request gets one (``req_…``), echoed in ``X-Request-Id`` and in every error body."""

from __future__ import annotations

import json
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestIdMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): it adds no task switch to every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = "req_" + secrets.token_hex(12)
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        await self.app(scope, receive, send_with_id)


NUL_MARKERS = (b"\\u0000", b"\x00", b"%00")


class RefuseNulMiddleware:
    """Refuse requests that carry a NUL character, before any handler sees them.

    PostgreSQL text cannot hold NUL, so such a value would fail deep in a write as a server error (found by the
    schemathesis run); no field of ours has a use for it, so it is refused at the door as a bad request. Bodies are
    small (the API's largest is a transfer), so buffering one to look is cheap.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if b"%00" in scope.get("query_string", b"") or "\x00" in scope.get("path", ""):
            await _refuse(scope, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if any(marker in body for marker in NUL_MARKERS):
            await _refuse(scope, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _refuse(scope: Scope, send: Send) -> None:
    problem = {
        "type": "https://pocketbank.dev/errors/invalid_request",
        "title": "Invalid request",
        "status": 400,
        "detail": "NUL characters are not accepted",
        "code": "invalid_request",
        "param": None,
        "request_id": scope.get("state", {}).get("request_id"),
    }
    body = json.dumps(problem).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
