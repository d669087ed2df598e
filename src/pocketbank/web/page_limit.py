"""How many page views a worker process works on at once (pure ASGI): one on SQLite, a few on PostgreSQL.

A page view is CPU work under the GIL: services, queries and the template. Started all at once in the thread pool,
page views share one core (one thread runs Python at a time), and every SQLite call releases the GIL, after which
the thread may wait a whole switch interval (5 ms) to get it back. Five page views at once therefore each take well
over five times their own time, long pages most. Taken one after another, a view waits only for those ahead of it:
more throughput and a far shorter tail (``bench/web.py``, 10 users on 2 workers: p95 of the home page 58-76 ms
without the queue, 18-25 ms with it, on the same busy machine). On SQLite a page never waits for the network, so one
at a time loses nothing; on PostgreSQL each query is a round trip, during which another page may run, so a few.

Only GET and HEAD requests of the web pages queue here. Form posts (a login hashes a password for tens of
milliseconds, a transfer waits for its commit) go straight to the thread pool, as do the JSON API and static files
(``skip``). The time spent queued counts in ``Server-Timing`` (that middleware is outside this one).
"""

from __future__ import annotations

from typing import Final

from anyio import Semaphore
from anyio.lowlevel import RunVar
from starlette.types import ASGIApp, Receive, Scope, Send

SQLITE_PAGES_AT_ONCE: Final = 1
POSTGRES_PAGES_AT_ONCE: Final = 4
_QUEUED_METHODS: Final = ("GET", "HEAD")


class PageLimitMiddleware:
    def __init__(self, app: ASGIApp, at_once: int, skip: tuple[str, ...] = ()) -> None:
        self.app = app
        self.at_once = at_once
        self.skip = skip  # path prefixes that do not queue (the JSON API, static files)
        # One semaphore per event loop (a test may serve one app from several loops), made on first use.
        self._slots: RunVar[Semaphore] = RunVar("pocketbank_web_page_slots")

    def _semaphore(self) -> Semaphore:
        try:
            return self._slots.get()
        except LookupError:
            slots = Semaphore(self.at_once)
            self._slots.set(slots)
            return slots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in _QUEUED_METHODS
            or str(scope.get("path", "")).startswith(self.skip)
        ):
            await self.app(scope, receive, send)
            return
        async with self._semaphore():
            await self.app(scope, receive, send)
