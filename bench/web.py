"""Web app benchmark: page weight and server time of the mobile web pages; one JSON line on stdout.

    .venv/bin/python bench/web.py                          # what ``make bench`` runs after bench/api.py
    BENCH_WEB_SECONDS=3 .venv/bin/python bench/web.py      # a quick run

Environment:

- ``BENCH_WEB_SECONDS`` (default 10): length of the measured phase;
- ``BENCH_WEB_USERS`` (default 10): concurrent users, each on its own keep-alive connection;
- ``BENCH_WEB_WORKERS`` (default 2): uvicorn worker processes of the server;
- other ``POCKETBANK_*`` settings go to the server as they are.

The server runs as production runs it, in its own processes: ``pocketbank serve --workers 2`` on a temporary SQLite
file, with ``POCKETBANK_WEB_SECRET`` set (a fresh random one per run) so that a CSRF token made by one worker
verifies in the other. The setup runs in this process through the services on that file before the server starts
(``bench/_api_setup.py``): one customer per user with a cash deposit, 30 history entries and a payee, and one teller
per user. Each user then logs in through the pages (GET the form for its CSRF token, POST it; the seeded device
cookie makes the device trusted) as a customer and as its teller, and fetches the pages round robin until the time
is up, over its own keep-alive connection with its own cookies: a closed loop without think time. The users connect
one after another (each connection answers one request before the next opens, as users arriving would, rather than
all in one burst that a single worker would accept); which worker accepts which connection is the kernel's choice,
and stderr shows how they spread, with the server's CPU time per request.

Per page:

- ``bytes``: what a first visit downloads: the HTML plus every ``<link rel=stylesheet>`` and ``<script src>`` it names
  (uncompressed: the server does not compress), split into ``html``, ``css``, ``js``; ``gzip_bytes`` is the same
  gzip-compressed (what a compressing proxy would send);
- ``p50_ms`` / ``p95_ms``: server time, measured inside the server and read from each response's
  ``Server-Timing: app;dur=<ms>`` header (``pocketbank.web.timing``): from the request reaching the app to the start
  of its response, so it includes waiting for its turn (a worker takes one page view at a time on SQLite:
  ``pocketbank.web.page_limit``), for a worker thread and for the worker's GIL, not the client's own time;
  ``client_p95_ms`` is the round trip the user saw (it also includes the time a request waits in the socket before
  a busy worker reads it, and this process's own time); ``solo_p50_ms`` is the server time with one user alone (20
  fetches of each page before the concurrent phase).

The load generator is a minimal HTTP/1.1 keep-alive client on asyncio streams in this process (one thread): it costs
far less CPU per request than a full client, which matters when it shares the 2 cores with the server's workers. The
login and the page weights use httpx2.

Targets reported against: ``bytes`` < 100 KB (102,400) per page and server ``p95`` < 50 ms. The setup gets
``_api_setup.NoLimits`` (it registers many customers from one place); the server keeps its own rate limits, as in
the API benchmark: the run's 2 logins per user from 127.0.0.1 (one as a customer, one as the user's own teller) stay
under the 100 logins per address and minute for up to 50 users.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import os
import re
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from contextlib import redirect_stdout, suppress
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx2

import _api_setup as setup
from _server import HOST, connections_per_worker, cpu_seconds, free_port, server, use_bench_data_key, worker_pids
from pocketbank.domain.accounts import derive_id
from pocketbank.domain.ids import IdKind, parse_id
from pocketbank.domain.principals import StaffRole

SECONDS = float(os.environ.get("BENCH_WEB_SECONDS", "10"))
USERS = int(os.environ.get("BENCH_WEB_USERS", "10"))
WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", "2"))
HISTORY = 30
SOLO_ROUNDS = 20
BYTES_TARGET = 100 * 1024
P95_TARGET_MS = 50.0
TELLER_PASSWORD = "counter bench passphrase"
PAGES = ["welcome", "login", "home", "account", "transfer", "payees", "security", "staff_home"]


def log(msg: str) -> None:
    print(f"[bench-web] {msg}", file=sys.stderr, flush=True)


# -- a user: its cookies, its logins (httpx2), its page weights ----------------------------------------------------


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


def remember(jar: dict[str, str], set_cookies: list[str]) -> None:
    """Keep a response's cookies by hand: they are Secure (__Host-), which http.cookiejar will not send over http."""
    for line in set_cookies:
        name, _, rest = line.partition("=")
        value = rest.split(";", 1)[0]
        if "max-age=0" in line.lower() or not value.strip('"'):
            jar.pop(name, None)
        else:
            jar[name] = value


@dataclass
class User:
    base: str
    phone: str
    device: str
    account: str
    teller: str
    cookies: dict[str, str] = field(default_factory=dict)  # the customer's browser
    staff_cookies: dict[str, str] = field(default_factory=dict)  # the teller's browser
    server_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    round_trips: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: int = 0

    def request(self, client: httpx2.Client, method: str, path: str, jar: dict[str, str] | None, **kw: Any) -> Any:
        headers = {"cookie": "; ".join(f"{k}={v}" for k, v in jar.items())} if jar else {}
        response = client.request(method, path, headers=headers, **kw)
        client.cookies.clear()
        if jar is not None:
            remember(jar, response.headers.get_list("set-cookie"))
        return response

    def login(self) -> None:
        with httpx2.Client(base_url=self.base, timeout=30.0, trust_env=False) as client:
            self.cookies["__Host-pb_device"] = self.device
            token = CSRF.search(self.request(client, "GET", "/login", self.cookies).text)
            assert token, "no CSRF token on /login"
            form = {"csrf_token": token.group(1), "phone": self.phone, "password": setup.PASSWORD}
            r = self.request(client, "POST", "/login", self.cookies, data=form)
            assert r.status_code == 303 and r.headers["location"] == "/home", (r.status_code, r.text[:300])
            token = CSRF.search(self.request(client, "GET", "/staff/login", self.staff_cookies).text)
            assert token, "no CSRF token on /staff/login"
            form = {"csrf_token": token.group(1), "username": self.teller, "password": TELLER_PASSWORD}
            r = self.request(client, "POST", "/staff/login", self.staff_cookies, data=form)
            assert r.status_code == 303, (r.status_code, r.text[:300])

    def path(self, page: str) -> tuple[str, dict[str, str]]:
        visitor: dict[str, str] = {}  # a visitor: with a session, / redirects to /home
        return {
            "welcome": ("/", visitor),
            "login": ("/login", visitor),
            "home": ("/home", self.cookies),
            "account": (f"/accounts/{self.account}", self.cookies),
            "transfer": ("/transfer", self.cookies),
            "payees": ("/payees", self.cookies),
            "security": ("/security", self.cookies),
            "staff_home": ("/staff", self.staff_cookies),
        }[page]

    def weigh(self, page: str) -> dict[str, int]:
        """HTML + CSS + JS of one page, uncompressed and gzip-compressed."""
        path, jar = self.path(page)
        with httpx2.Client(base_url=self.base, timeout=30.0, trust_env=False) as client:
            r = self.request(client, "GET", path, jar)
            assert r.status_code == 200, (page, r.status_code)
            parser = Assets()
            parser.feed(r.text)
            sizes = {"html": len(r.content), "css": 0, "js": 0}
            gz = len(gzip.compress(r.content))
            for kind, urls in (("css", parser.css), ("js", parser.js)):
                for url in urls:
                    asset = self.request(client, "GET", url, None)
                    assert asset.status_code == 200, (url, asset.status_code)
                    sizes[kind] += len(asset.content)
                    gz += len(gzip.compress(asset.content))
        return {"bytes": sizes["html"] + sizes["css"] + sizes["js"], **sizes, "gzip_bytes": gz}


# -- the load generator ---------------------------------------------------------------------------------------


SERVER_TIMING = re.compile(rb"(?:^|,)\s*app;dur=([0-9.]+)")


@dataclass
class Reply:
    status: int
    server_ms: float | None  # from Server-Timing
    set_cookies: list[str]


class Connection:
    """One keep-alive HTTP/1.1 connection: write a GET, read status, the headers it needs and the body."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int) -> None:
        self.reader, self.writer, self.port = reader, writer, port

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer, port)

    async def get(self, path: str, cookies: dict[str, str]) -> Reply:
        cookie = "Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()) + "\r\n" if cookies else ""
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n{cookie}\r\n".encode())
        status = int((await self.reader.readuntil(b"\r\n")).split(b" ", 2)[1])
        length, server_ms, set_cookies = 0, None, []
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"server-timing" and (m := SERVER_TIMING.search(value.strip())):
                server_ms = float(m.group(1))
            elif name == b"set-cookie":
                set_cookies.append(value.strip().decode())
            elif name == b"transfer-encoding":
                raise RuntimeError("chunked responses are not expected from the web pages")
        await self.reader.readexactly(length)
        return Reply(status, server_ms, set_cookies)

    async def close(self) -> None:
        self.writer.close()
        with suppress(OSError):
            await self.writer.wait_closed()


async def fetch(user: User, conn: Connection, page: str) -> None:
    path, jar = user.path(page)
    t0 = time.perf_counter()
    reply = await conn.get(path, jar)
    user.round_trips[page].append((time.perf_counter() - t0) * 1000)
    remember(jar, reply.set_cookies)
    if reply.status != 200 or reply.server_ms is None:
        user.errors += 1
    else:
        user.server_ms[page].append(reply.server_ms)


async def run_users(
    users: list[User], port: int, seconds: float | None, rounds: int = 1, workers: list[int] | None = None
) -> float:
    """Each user fetches the pages round robin, from its own offset: for ``seconds``, or ``rounds`` times each.

    With ``workers``, log how the connections spread over the worker processes and their CPU time per request.
    """
    conns = []
    for _ in users:  # one after another, each used once, as users arriving one by one would (not all in one burst)
        conns.append(await Connection.open(port))
        await conns[-1].get("/v1/health", {})
    if workers:
        ports = {c.writer.get_extra_info("sockname")[1] for c in conns}
        log(f"connections per worker: {connections_per_worker(workers, port, ports)}")
    cpu, own = cpu_seconds(workers or []), time.process_time()
    start = time.perf_counter()
    deadline = start + seconds if seconds is not None else float("inf")
    last = [start]

    async def loop(n: int, user: User, conn: Connection) -> None:
        for i in range(n, n + rounds * len(PAGES)) if seconds is None else itertools.count(n):
            if time.perf_counter() >= deadline:
                break
            await fetch(user, conn, PAGES[i % len(PAGES)])
        last[0] = max(last[0], time.perf_counter())

    try:
        await asyncio.gather(*(loop(n, u, c) for n, (u, c) in enumerate(zip(users, conns, strict=True))))
    finally:
        for c in conns:
            await c.close()
    if workers:
        done = sum(len(v) for u in users for v in u.round_trips.values())
        used, mine = cpu_seconds(workers) - cpu, time.process_time() - own
        log(
            f"CPU for {done} requests in {time.perf_counter() - start:.1f} s: server {used:.1f} s "
            f"({used / max(done, 1) * 1000:.2f} ms each), this client {mine:.1f} s"
        )
    return last[0] - start  # no request starts after the deadline; the last ones finish after it


# -- setup, run, report -------------------------------------------------------------------------------------------


def prepare(url: str, base: str) -> list[User]:
    """Customers with history and payees, and a teller per user, on ``url`` (before the server opens it)."""
    container = setup.open_container(url, limits=False)  # a rate limiter that counts nothing (see above)
    try:
        s = setup.Setup(container, threads=4, log=log)
        people = s.customers(USERS)  # registered, 1,000.00 CNY each, a payee each
        teller = s.teller()
        for p in people:
            account = parse_id(IdKind.ACCOUNT, p.account)
            for i in range(HISTORY):
                container.accounts.deposit_cash(teller, account, 1 + i, derive_id("bench-web", p.phone, i))
        tellers = [f"bench-web-teller-{n}" for n in range(USERS)]
        for name in tellers:
            container.staff.create_staff_user(name, "Zhao Min", StaffRole.TELLER, TELLER_PASSWORD)
    finally:
        container.close()
    return [User(base, p.phone, p.device, p.account, t) for p, t in zip(people, tellers, strict=True)]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def reset(users: list[User]) -> None:
    for u in users:
        u.server_ms.clear()
        u.round_trips.clear()
        u.errors = 0


def main() -> None:
    use_bench_data_key()
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'web.db'}"
        port = free_port()
        base = f"http://{HOST}:{port}"
        t0 = time.perf_counter()
        with redirect_stdout(sys.stderr):  # the services' log lines, if any: stdout carries only the result line
            users = prepare(url, base)
        with server(url, port, WORKERS) as proc:
            workers = worker_pids(proc.pid, WORKERS)
            log(f"server pid {proc.pid}, workers {workers}, port {port}")
            for u in users:
                u.login()
            log(
                f"setup: {USERS} customers ({HISTORY + 1} history entries each), logged in, "
                f"in {time.perf_counter() - t0:.1f} s"
            )
            weights = {page: users[0].weigh(page) for page in PAGES}
            asyncio.run(run_users(users, port, None, rounds=2))  # warm-up: every worker renders every template
            reset(users)
            asyncio.run(run_users(users[:1], port, None, rounds=SOLO_ROUNDS))  # one user alone: the pages' own cost
            solo = {page: list(v) for page, v in users[0].server_ms.items()}
            solo_errors = users[0].errors
            reset(users)
            elapsed = asyncio.run(run_users(users, port, SECONDS, workers=workers))
    pages: dict[str, Any] = {}
    for page in PAGES:
        server_ms = [x for u in users for x in u.server_ms.get(page, [])]
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
        "errors": solo_errors + sum(u.errors for u in users),
        "targets": {"bytes": BYTES_TARGET, "p95_ms": P95_TARGET_MS},
        "all_within_targets": all(p["bytes_ok"] and p["p95_ok"] for p in pages.values()),
        "pages": pages,
        "run_id": uuid.uuid4().hex[:8],
    }
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    main()
