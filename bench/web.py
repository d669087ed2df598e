"""Web app benchmark: page weight and server time of the mobile web pages; one JSON line on stdout.

    .venv/bin/python bench/web.py
    BENCH_WEB_SECONDS=3 .venv/bin/python bench/web.py      # a quick run

Environment:

- ``BENCH_WEB_SECONDS`` (default 10): length of the measured phase;
- ``BENCH_WEB_USERS`` (default 10): concurrent users, one thread each.

The app runs in this process (``create_app`` on a temporary SQLite file, uvicorn on 127.0.0.1 in a thread, the real
clock). Setup through the services: one customer per user with a cash deposit, 30 history entries and a payee, and
one teller. Each user then logs in through the pages (GET the form for its CSRF token, POST it; the seeded device
cookie makes the device trusted) as a customer and as the teller, and fetches the pages round robin until the time
is up, over its own keep-alive connection with its own cookies.

Per page:

- ``bytes``: what a first visit downloads: the HTML plus every ``<link rel=stylesheet>`` and ``<script src>`` it names
  (uncompressed: the server does not compress), split into ``html``, ``css``, ``js``; ``gzip_bytes`` is the same
  gzip-compressed (what a compressing proxy would send);
- ``p50_ms`` / ``p95_ms``: server time, measured inside the server process by an ASGI wrapper from the request's
  arrival at the app to its last body byte (so it includes waiting for a worker thread, not the client's own time);
  ``client_p95_ms`` is the round trip the user saw; ``solo_p50_ms`` is the server time with one user alone (20
  fetches of each page before the concurrent phase). The 10 client threads share this process (and its GIL) with
  the server, so the concurrent figures include that contention, as they would for a server on a busy 2-core box.

Targets reported against: ``bytes`` < 100 KB (102,400) per page and server ``p95`` < 50 ms. The per-client and
per-phone rate limits of the auth service are lifted for the run (10 users log in from one address): the
container gets ``_api_setup.NoLimits``, as the API benchmark's setup does.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx2
import uvicorn

import _api_setup as setup
from pocketbank.api.app import create_app
from pocketbank.bootstrap import Container
from pocketbank.domain.accounts import derive_id
from pocketbank.domain.ids import IdKind, parse_id
from pocketbank.domain.principals import StaffRole

SECONDS = float(os.environ.get("BENCH_WEB_SECONDS", "10"))
USERS = int(os.environ.get("BENCH_WEB_USERS", "10"))
HOST = "127.0.0.1"
HISTORY = 30
SOLO_ROUNDS = 20
BYTES_TARGET = 100 * 1024
P95_TARGET_MS = 50.0
TELLER, TELLER_PASSWORD = "bench-web-teller", "counter bench passphrase"
PAGES = ["welcome", "login", "home", "account", "transfer", "payees", "security", "staff_home"]


def log(msg: str) -> None:
    print(f"[bench-web] {msg}", file=sys.stderr, flush=True)


# -- server time, measured inside the app -------------------------------------------------------------------------


class Timing:
    """ASGI wrapper: the time from the request reaching the app to its last body byte, by ``x-bench-page``."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.recording = False
        self._lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        page = dict(scope.get("headers", [])).get(b"x-bench-page", b"").decode()
        start = time.perf_counter()

        async def timed_send(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False) and page:
                elapsed = (time.perf_counter() - start) * 1000
                if self.recording:
                    with self._lock:
                        self.samples[page].append(elapsed)

        await self.app(scope, receive, timed_send)


# -- a user: its own connection and cookies -----------------------------------------------------------------------


class Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.css: list[str] = []
        self.js: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "link" and (a.get("rel") or "").lower() == "stylesheet" and a.get("href"):
            self.css.append(a["href"] or "")
        elif tag == "script" and a.get("src"):
            self.js.append(a["src"] or "")


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class User:
    base: str
    phone: str
    device: str
    account: str
    client: httpx2.Client = field(init=False)
    cookies: dict[str, str] = field(default_factory=dict)  # the customer's browser
    staff_cookies: dict[str, str] = field(default_factory=dict)  # the teller's browser
    round_trips: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: int = 0

    def __post_init__(self) -> None:
        # Cookies are kept by hand: they are Secure (__Host-), which http.cookiejar will not send over plain http.
        self.client = httpx2.Client(base_url=self.base, timeout=30.0, trust_env=False)

    def request(self, method: str, path: str, jar: dict[str, str] | None, page: str = "", **kw: Any) -> httpx2.Response:
        headers = {"x-bench-page": page} if page else {}
        if jar:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        response = self.client.request(method, path, headers=headers, **kw)
        self.client.cookies.clear()
        if jar is not None:
            for line in response.headers.get_list("set-cookie"):
                name, _, rest = line.partition("=")
                value = rest.split(";", 1)[0]
                if "max-age=0" in line.lower() or not value.strip('"'):
                    jar.pop(name, None)
                else:
                    jar[name] = value
        return response

    def login(self) -> None:
        self.cookies["__Host-pb_device"] = self.device
        token = CSRF.search(self.request("GET", "/login", self.cookies).text)
        assert token, "no CSRF token on /login"
        form = {"csrf_token": token.group(1), "phone": self.phone, "password": setup.PASSWORD}
        r = self.request("POST", "/login", self.cookies, data=form)
        assert r.status_code == 303 and r.headers["location"] == "/home", (r.status_code, r.text[:300])
        token = CSRF.search(self.request("GET", "/staff/login", self.staff_cookies).text)
        assert token, "no CSRF token on /staff/login"
        form = {"csrf_token": token.group(1), "username": TELLER, "password": TELLER_PASSWORD}
        r = self.request("POST", "/staff/login", self.staff_cookies, data=form)
        assert r.status_code == 303, (r.status_code, r.text[:300])

    def path(self, page: str) -> tuple[str, dict[str, str] | None]:
        return {
            "welcome": ("/", None),  # a visitor: with a session, / redirects to /home
            "login": ("/login", None),
            "home": ("/home", self.cookies),
            "account": (f"/accounts/{self.account}", self.cookies),
            "transfer": ("/transfer", self.cookies),
            "payees": ("/payees", self.cookies),
            "security": ("/security", self.cookies),
            "staff_home": ("/staff", self.staff_cookies),
        }[page]

    def fetch(self, page: str) -> httpx2.Response:
        path, jar = self.path(page)
        t0 = time.perf_counter()
        r = self.request("GET", path, {} if jar is None else jar, page)
        self.round_trips[page].append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            self.errors += 1
        return r

    def weigh(self, page: str) -> dict[str, int]:
        """HTML + CSS + JS of one page, uncompressed and gzip-compressed."""
        path, jar = self.path(page)
        r = self.request("GET", path, {} if jar is None else jar)
        assert r.status_code == 200, (page, r.status_code)
        parser = Assets()
        parser.feed(r.text)
        sizes = {"html": len(r.content), "css": 0, "js": 0}
        gz = len(gzip.compress(r.content))
        for kind, urls in (("css", parser.css), ("js", parser.js)):
            for url in urls:
                asset = self.request("GET", url, None)
                assert asset.status_code == 200, (url, asset.status_code)
                sizes[kind] += len(asset.content)
                gz += len(gzip.compress(asset.content))
        return {"bytes": sizes["html"] + sizes["css"] + sizes["js"], **sizes, "gzip_bytes": gz}


# -- setup, run, report -------------------------------------------------------------------------------------------


def prepare(container: Container, base: str) -> list[User]:
    s = setup.Setup(container, threads=4, log=log)
    people = s.customers(USERS)  # registered, 1,000.00 CNY each, a payee each
    teller = s.teller()
    for p in people:
        account = parse_id(IdKind.ACCOUNT, p.account)
        for i in range(HISTORY):
            container.accounts.deposit_cash(teller, account, 1 + i, derive_id("bench-web", p.phone, i))
    container.staff.create_staff_user(TELLER, "Zhao Min", StaffRole.TELLER, TELLER_PASSWORD)
    return [User(base, p.phone, p.device, p.account) for p in people]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def run_users(users: list[User], seconds: float) -> float:
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()

    def work(u: User, offset: int) -> Callable[[], None]:
        def loop() -> None:
            i = offset
            while time.perf_counter() < deadline:
                u.fetch(PAGES[i % len(PAGES)])
                i += 1

        return loop

    threads = [threading.Thread(target=work(u, n), name=f"user-{n}") for n, u in enumerate(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'web.db'}"
        container = setup.open_container(url, limits=False)  # a rate limiter that counts nothing (see above)
        timing = Timing(create_app(container))
        config = uvicorn.Config(timing, host=HOST, port=0, log_level="warning", access_log=False, lifespan="off")
        sock = socket.socket()
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        base = f"http://{HOST}:{port}"
        try:
            t0 = time.perf_counter()
            users = prepare(container, base)
            for u in users:
                u.login()
            log(
                f"setup: {USERS} customers ({HISTORY + 1} history entries each), logged in, "
                f"in {time.perf_counter() - t0:.1f} s"
            )
            weights = {page: users[0].weigh(page) for page in PAGES}
            for u in users:  # warm-up: templates compiled, connections open
                for page in PAGES:
                    u.fetch(page)
                u.round_trips.clear()
                u.errors = 0
            timing.recording = True
            for _ in range(SOLO_ROUNDS):  # one user alone: the pages' own cost, without queueing
                for page in PAGES:
                    users[0].fetch(page)
            solo = {page: list(v) for page, v in timing.samples.items()}
            timing.samples.clear()
            users[0].round_trips.clear()
            elapsed = run_users(users, SECONDS)
            timing.recording = False
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            container.close()
    pages: dict[str, Any] = {}
    for page in PAGES:
        server_ms = timing.samples.get(page, [])
        client_ms = [x for u in users for x in u.round_trips.get(page, [])]
        p95 = percentile(server_ms, 95)
        pages[page] = {
            **weights[page],
            "requests": len(server_ms),
            "p50_ms": round(percentile(server_ms, 50), 2),
            "p95_ms": round(p95, 2),
            "client_p95_ms": round(percentile(client_ms, 95), 2),
            "solo_p50_ms": round(percentile(solo.get(page, []), 50), 2),
            "bytes_ok": weights[page]["bytes"] < BYTES_TARGET,
            "p95_ok": p95 < P95_TARGET_MS,
        }
    total = sum(p["requests"] for p in pages.values())
    result = {
        "bench": "web",
        "engine": "sqlite",
        "users": USERS,
        "seconds": round(elapsed, 2),
        "requests": total,
        "rps": round(total / elapsed, 1) if elapsed else 0.0,
        "errors": sum(u.errors for u in users),
        "targets": {"bytes": BYTES_TARGET, "p95_ms": P95_TARGET_MS},
        "all_within_targets": all(p["bytes_ok"] and p["p95_ok"] for p in pages.values()),
        "pages": pages,
        "run_id": uuid.uuid4().hex[:8],
    }
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    main()
