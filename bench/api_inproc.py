"""What one ``POST /v1/transfers`` costs, request by request: CPU, PostgreSQL's CPU and the statements it sends.

    .venv/bin/python bench/api_inproc.py                     # 300 transfers, one at a time
    BENCH_INPROC_TRANSFERS=1000 BENCH_INPROC_STATEMENTS=1 .venv/bin/python bench/api_inproc.py
    BENCH_INPROC_READS=1500 .venv/bin/python bench/api_inproc.py   # GET /v1/accounts/{id} instead

``bench/api.py`` measures the server under load, where the machine's noise moves every figure by 10-20 %. This
runs the application in this process, with no HTTP server and no load generator: each request goes through the
ASGI app (middleware, routing, validation, authentication, the services) and waits for its answer before the next
starts, so the CPU a request costs is what this process and the database server spend between the first request
and the last, divided by their number. It is the figure to compare when a change removes work from a transfer.

Setup and data are ``bench/api.py``'s (``bench/_api_setup.py``), in a fresh PostgreSQL schema dropped at the end;
the first 40 transfers are a warm-up. ``BENCH_INPROC_READS=N`` measures N account reads instead (``GET
/v1/accounts/{id}``, what a phone asks each time the app opens: authentication, the account, its balance), after
200 untimed ones. ``BENCH_INPROC_STATEMENTS=1`` also counts the statements sent through psycopg
per request, by their first words (``BEGIN``/``COMMIT`` that psycopg sends by itself are not counted).
"""

from __future__ import annotations

import asyncio
import collections
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

import _api_setup as setup
from _server import use_bench_data_key
from api import database, get_request, postgres_cpu, postgres_cpu_since, transfer_request
from pocketbank.api.app import create_app

TRANSFERS = int(os.environ.get("BENCH_INPROC_TRANSFERS", "300"))
READS = int(os.environ.get("BENCH_INPROC_READS", "0"))
READ_WARM_UP = 200
COUNT_STATEMENTS = os.environ.get("BENCH_INPROC_STATEMENTS", "") not in ("", "0")
WARM_UP = 40
PER_CUSTOMER = 25  # under the 30 step-up checks per customer and hour the server allows


def asgi_call(app: Any, raw: bytes) -> Callable[[], Any]:
    """A coroutine factory sending one serialised HTTP/1.1 request through ``app``; it returns the status."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    method, path, _ = lines[0].split(b" ")
    headers = [(k.lower(), v) for k, v in (line.split(b": ", 1) for line in lines[1:])]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method.decode(),
        "path": path.decode(),
        "raw_path": path,
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "scheme": "http",
        "root_path": "",
    }

    async def call() -> int:
        sent = False
        statuses: list[int] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never disconnects
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app({**scope, "state": {}}, receive, send)
        return statuses[0]

    return call


def count_statements() -> collections.Counter[str]:
    """Count what psycopg's cursors execute from now on (the application's and the ledger's statements)."""
    seen: collections.Counter[str] = collections.Counter()
    original = psycopg.Cursor.execute

    def execute(self: psycopg.Cursor[Any], query: Any, params: Any = None, **kw: Any) -> Any:
        text = query if isinstance(query, str) else bytes(query).decode() if isinstance(query, bytes) else str(query)
        seen[" ".join(text.split()[:4])[:60]] += 1
        return original(self, query, params, **kw)

    psycopg.Cursor.execute = execute  # type: ignore[method-assign]
    return seen


def main() -> None:
    use_bench_data_key()
    if READS:
        with app_for(customers=8, per_customer=1) as (people, app):  # reads spend nothing: eight customers in turn
            reads = [asgi_call(app, get_request(80, f"/v1/accounts/{p.account}", p.token)) for p in people]
            asyncio.run(measure_reads(reads))
        return
    with app_for(customers=-(-(TRANSFERS + WARM_UP) // PER_CUSTOMER), per_customer=PER_CUSTOMER) as (people, app):
        requests = [transfer_request(80, p.token, body) for p in people for body in p.bodies]
        asyncio.run(measure([asgi_call(app, raw) for raw in requests[: WARM_UP + TRANSFERS]]))


@contextmanager
def app_for(customers: int, per_customer: int) -> Iterator[tuple[list[setup.Customer], Any]]:
    """The set-up customers and the ASGI app over them, in a fresh PostgreSQL schema dropped at the end."""
    with database("postgres") as url:
        people = setup.prepare(url, customers=customers, per_customer=per_customer, threads=4, log=setup_log)
        container = setup.open_container(url)
        try:
            yield people, create_app(container)
        finally:
            container.close()


async def measure_reads(reads: list[Callable[[], Any]]) -> None:
    for i in range(READ_WARM_UP):
        assert await reads[i % len(reads)]() == 200
    pg_before = postgres_cpu()
    cpu0 = time.process_time()
    for i in range(READS):
        status = await reads[i % len(reads)]()
        assert status == 200, status
    cpu, pg = time.process_time() - cpu0, postgres_cpu_since(pg_before)
    per_read = f"{cpu * 1e3 / READS:.3f} ms CPU here, {pg * 1e3 / READS:.3f} ms in PostgreSQL"
    print(f"{READS} account reads one at a time: {per_read} per read")


async def measure(calls: list[Callable[[], Any]]) -> None:
    for call in calls[:WARM_UP]:
        assert await call() == 201
    timed = calls[WARM_UP:]
    seen = count_statements() if COUNT_STATEMENTS else None
    pg_before = postgres_cpu()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for call in timed:
        status = await call()
        assert status == 201, status
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    pg = postgres_cpu_since(pg_before)
    n = len(timed)
    print(
        f"{n} transfers one at a time: {cpu * 1e3 / n:.2f} ms CPU here, {pg * 1e3 / n:.2f} ms in PostgreSQL, "
        f"{wall * 1e3 / n:.2f} ms wall per request"
    )
    if seen is not None:
        for text, count in seen.most_common():
            print(f"{count / n:6.2f}  {text}")
        print(f"{sum(seen.values()) / n:6.2f}  statements per request")


def setup_log(message: str) -> None:
    print(f"[inproc] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
