"""``Server-Timing: app;dur=<ms>`` on the web app's page views (pure ASGI).

The duration runs from the request reaching this middleware to the start of its response, which for the web app's
pages (rendered in full before they are sent) is the whole server time: routing, waiting for its turn and for a
worker thread, the services' queries and rendering. Browsers show it in their developer tools and ``bench/web.py``
reads it, so the server time is measured inside the server, apart from the client's own time.

Only GET and HEAD responses carry it. A form post checks passwords and codes, and a precise server time (free of
network jitter) would help anyone timing those checks from outside. The JSON API is left as it is (``skip``).
"""

from __future__ import annotations

import time
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER: Final = b"server-timing"


class ServerTimingMiddleware:
    def __init__(self, app: ASGIApp, skip: tuple[str, ...] = ()) -> None:
        self.app = app
        self.skip = skip  # path prefixes left untouched (the JSON API's)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or str(scope.get("path", "")).startswith(self.skip)
        ):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter_ns()

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                dur = (time.perf_counter_ns() - start) / 1e6
                message["headers"] = [*message.get("headers", []), (HEADER, f"app;dur={dur:.2f}".encode())]
            await send(message)

        await self.app(scope, receive, send_with_timing)
