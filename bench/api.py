"""API benchmark: ``pocketbank serve`` under 32 keep-alive clients on loopback; one JSON line on stdout.

    .venv/bin/python bench/api.py                          # what ``make bench`` runs after bench/ledger.py
    BENCH_API_ENGINE=sqlite BENCH_API_SECONDS=5 .venv/bin/python bench/api.py   # a quick run
    BENCH_API_PYSPY=/tmp/worker.txt .venv/bin/python bench/api.py   # also py-spy one worker (collapsed stacks)

Environment:

- ``BENCH_API_ENGINE``: ``postgres`` or ``sqlite`` (default: postgres when reachable, else sqlite);
- ``BENCH_API_WORKERS`` (default 2): uvicorn worker processes;
- ``BENCH_API_SECONDS`` (default 15): length of each measured phase;
- ``BENCH_API_CLIENTS`` (default 32): concurrent connections;
- ``BENCH_API_MAX_TRANSFERS`` (default 800 per second of the phase on PostgreSQL, 100 on SQLite): transfers
  prepared, the phase's count bound. Each needs its own challenge, made in the setup at 150-1,300/s (PostgreSQL) or
  ~60/s (SQLite) on a small machine, and a challenge lives 5 minutes, so the setup stops making them after 150 s.
  A run whose clients run out says so on stderr: to measure near the 1,500/s target, set 1,500 x the seconds;
- ``BENCH_API_ROUND_ROBIN=1``: each client cycles through its customers (default: one customer at a time);
- ``BENCH_API_PYSPY``: a file for ``py-spy record --idle -f raw`` of one worker during the transfer phase
  (``BENCH_API_PYSPY_IDLE=0``: on-CPU samples only; ``BENCH_API_PYSPY_GIL=1``: only the thread holding the GIL,
  which is where a worker's Python time goes when its threads contend for it);
- other ``POCKETBANK_*`` settings go to the server as they are (e.g. ``POCKETBANK_GROUP_COMMIT_WRITERS=0``);
- ``POCKETBANK_BENCH_PG_URL`` / ``POCKETBANK_TEST_PG_URL``: the PostgreSQL server (default
  ``postgresql://postgres@127.0.0.1:5432/test``); the run works in a fresh schema that it drops at the end.

The setup runs in this process through the services, before the server starts (``bench/_api_setup.py``): customers
signed up with SMS codes, a teller's cash deposit each, a payee each (the next customer), and for every transfer of
the run its own SMS step-up challenge bound to its amount and payee. Each client owns a disjoint set of customers, so
no two requests in flight ever belong to one customer. Then: ``GET /v1/health`` warm-up; an account-read phase
(``GET /v1/accounts/{id}`` of each client's own customers: the read path, and a check that the server's connections
stay within PostgreSQL's limit when writes follow reads); the transfer phase (every request a fresh
``Idempotency-Key``, a real bearer token and a real step-up proof; only 201s count); the no-op phase; and after the
server has stopped, ``verify_ok`` (the ledger's ``verify()``) and ``records_match`` (new transfer records = 201s).
Besides the timings: the workers' CPU per read and per transfer, PostgreSQL's per transfer, and
``postgres_write_transactions_per_transfer``, counted from transaction ids, so it does not move with the machine's
noise: the figure that batching requests into shared transactions must bring down.

The load generator is a minimal HTTP/1.1 keep-alive client on asyncio streams (requests are serialised before the
clock starts): it costs far less CPU per request than a full client, which matters when it shares the cores with
the server and the database.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote

import _api_setup as setup
from _server import HOST, cpu_seconds, free_port, server, use_bench_data_key, worker_pids

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
PER_CUSTOMER = 20  # transfers per customer: under the 30 step-up checks per customer and hour a worker allows

SECONDS = float(os.environ.get("BENCH_API_SECONDS", "15"))
WORKERS = int(os.environ.get("BENCH_API_WORKERS", "2"))
CLIENTS = int(os.environ.get("BENCH_API_CLIENTS", "32"))
PREPARED_PER_SECOND = {"postgres": 800, "sqlite": 100}  # default transfers prepared per second of the phase
ROUND_ROBIN = os.environ.get("BENCH_API_ROUND_ROBIN", "") not in ("", "0")
SETUP_THREADS = 8
WARM_UP_PER_CLIENT = 2  # untimed transfers per client before the transfer phase (see ``main``)


def log(msg: str) -> None:
    print(f"[bench-api] {msg}", file=sys.stderr, flush=True)


# -- databases ------------------------------------------------------------------------------------------------


def pg_admin_url() -> str:
    return os.environ.get("POCKETBANK_BENCH_PG_URL") or os.environ.get("POCKETBANK_TEST_PG_URL") or DEFAULT_PG_URL


def pg_reachable(url: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3):
            return True
    except Exception:
        return False


@contextmanager
def database(engine: str) -> Iterator[str]:
    """A fresh database URL: a PostgreSQL schema dropped at the end, or a temporary SQLite file."""
    if engine == "sqlite":
        with tempfile.TemporaryDirectory(prefix="pocketbank-bench-api-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'bank.db'}"
        return
    import psycopg

    admin = pg_admin_url()
    schema = f"bench_api_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in admin else "?"
    try:
        yield f"{admin}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


# -- the load generator ---------------------------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection: write a serialised request, read status and body (Content-Length)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        status = int((await self.reader.readuntil(b"\r\n")).split(b" ", 2)[1])
        length = 0
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        self.writer.close()
        with suppress(OSError):
            await self.writer.wait_closed()


def get_request(port: int, path: str, token: str | None = None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n{auth}\r\n".encode()


def read_work(port: int, people: list[setup.Customer]) -> list[Iterator[bytes]]:
    """Per client: its own customers' accounts, read in turn (each an authenticated look-up of balance and state)."""
    return [
        itertools.cycle([get_request(port, f"/v1/accounts/{p.account}", p.token) for p in people[k::CLIENTS]])
        for k in range(CLIENTS)
    ]


def transfer_request(port: int, token: str, body: bytes) -> bytes:
    head = (
        f"POST /v1/transfers HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Idempotency-Key: {setup.idempotency_key()}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Phase:
    def __init__(self) -> None:
        self.ok = 0
        self.latencies: list[float] = []
        self.errors: Counter[int | str] = Counter()
        self.samples: dict[int | str, bytes] = {}
        self.elapsed = 0.0
        self.exhausted = 0  # clients that ran out of prepared requests before the time was up

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


async def run_phase(port: int, seconds: float, requests: list[Iterator[bytes]], expect: int) -> Phase:
    phase = Phase()
    conns = [await Connection.open(port) for _ in requests]
    start = time.perf_counter()
    deadline = start + seconds
    last = [start]

    async def client(conn: Connection, todo: Iterator[bytes]) -> None:
        perf = time.perf_counter
        for request in todo:
            t0 = perf()
            if t0 >= deadline:
                return
            try:
                status, body = await conn.send(request)
            except (OSError, asyncio.IncompleteReadError) as exc:  # the server closed the connection or died
                phase.errors["connection"] += 1
                phase.samples.setdefault("connection", repr(exc).encode())
                return
            t1 = perf()
            if status == expect:
                phase.ok += 1
                phase.latencies.append(t1 - t0)
            else:
                phase.errors[status] += 1
                phase.samples.setdefault(status, body[:300])
            last[0] = max(last[0], t1)
        phase.exhausted += 1

    await asyncio.gather(*(client(c, todo) for c, todo in zip(conns, requests, strict=True)))
    phase.elapsed = last[0] - start  # no request starts after the deadline; the last ones finish after it
    for c in conns:
        await c.close()
    return phase


def transfer_work(port: int, people: list[setup.Customer]) -> list[Iterator[bytes]]:
    """Per client: its own customers, each request with its own challenge and Idempotency-Key.

    By default a client makes all of one customer's transfers, then the next customer's: a customer's first
    transfer in a period (in each worker) also opens and funds its limit allowances, and this amortises that over
    ``PER_CUSTOMER`` transfers. ``BENCH_API_ROUND_ROBIN=1`` cycles through the customers instead, so that in a short
    run nearly every request is some customer's first.
    """
    work: list[Iterator[bytes]] = []
    for k in range(CLIENTS):
        mine = people[k::CLIENTS]
        if ROUND_ROBIN:
            rounds = itertools.zip_longest(*(p.bodies for p in mine))
            pairs = [pair for row in rounds for pair in zip(mine, row, strict=True) if pair[1]]
        else:
            pairs = [(p, body) for p in mine for body in p.bodies]
        work.append(iter([transfer_request(port, p.token, body) for p, body in pairs]))
    return work


# -- the run --------------------------------------------------------------------------------------------------


def choose_engine() -> str:
    engine = os.environ.get("BENCH_API_ENGINE", "").strip().lower()
    if engine in ("postgres", "postgresql"):
        return "postgres"
    if engine == "sqlite":
        return "sqlite"
    if engine:
        raise SystemExit(f"BENCH_API_ENGINE must be postgres or sqlite, not {engine!r}")
    if pg_reachable(pg_admin_url()):
        return "postgres"
    log(f"PostgreSQL at {pg_admin_url()} is not reachable: using SQLite")
    return "sqlite"


def start_pyspy(pid: int, seconds: float) -> subprocess.Popen[bytes] | None:
    out = os.environ.get("BENCH_API_PYSPY")
    if not out:
        return None
    pyspy = Path(sys.executable).with_name("py-spy")
    idle = ["--idle"] if os.environ.get("BENCH_API_PYSPY_IDLE", "1") == "1" else []  # 0: on-CPU samples only
    gil = ["--gil"] if os.environ.get("BENCH_API_PYSPY_GIL") == "1" else []  # only the thread holding the GIL
    cmd = [str(pyspy), "record", *idle, *gil, "-r", "200", "-f", "raw", "-d", str(max(1, int(seconds) - 1))]
    log(f"py-spy on worker {pid} -> {out}")
    return subprocess.Popen([*cmd, "-p", str(pid), "-o", out], stdout=subprocess.DEVNULL)


def postgres_cpu() -> dict[int, float]:
    """CPU seconds so far of every PostgreSQL server process (part of what a transfer costs)."""
    out = subprocess.run(["pgrep", "-u", "postgres"], capture_output=True, text=True, check=False).stdout
    return {int(p): cpu_seconds([int(p)]) for p in out.split()}


def postgres_cpu_since(before: dict[int, float]) -> float:
    """CPU used since ``before``, counting backends forked meanwhile (pool connections opened under load) whole."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in postgres_cpu().items())


def next_xid() -> int | None:
    """The next transaction id the PostgreSQL server will assign: only a transaction that writes takes one, so the
    difference over a phase counts its write transactions (server-wide; nothing else writes during the phase).
    None when the server refuses the connection (out of connections: the run's errors say so)."""
    import psycopg

    try:
        with psycopg.connect(pg_admin_url(), autocommit=True) as conn:
            row = conn.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint").fetchone()
    except psycopg.OperationalError as exc:
        log(f"could not read the transaction counter: {exc}")
        return None
    assert row is not None
    return int(row[0])


def main() -> None:
    use_bench_data_key()
    engine = choose_engine()
    default_max = int(PREPARED_PER_SECOND[engine] * SECONDS)
    max_transfers = int(os.environ.get("BENCH_API_MAX_TRANSFERS", str(default_max)))
    customers = max(CLIENTS, -(-max_transfers // PER_CUSTOMER))
    with database(engine) as url:
        people = setup.prepare(url, customers=customers, per_customer=PER_CUSTOMER, threads=SETUP_THREADS, log=log)
        _, records_before = setup.check(url, verify=False)
        port = free_port()
        transfers_work = transfer_work(port, people)
        with server(url, port, WORKERS) as proc:
            workers = worker_pids(proc.pid, WORKERS)
            log(f"{engine}: server pid {proc.pid}, workers {workers}, port {port}")
            health = get_request(port, "/v1/health")
            asyncio.run(run_phase(port, 1.0, [itertools.repeat(health)] * CLIENTS, 200))  # warm-up
            # Reads first: a read phase used to leave a ledger connection behind in every request thread, and the
            # write phase after it then ran out of PostgreSQL connections ("too many clients").
            reads_before = cpu_seconds(workers)
            reads = asyncio.run(run_phase(port, SECONDS, read_work(port, people), 200))
            reads_cpu = cpu_seconds(workers) - reads_before
            # Each worker builds a router's request handling on its first request to it (FastAPI resolves included
            # routers lazily): 0.2-0.3 s of CPU per worker, 4-8 % of a worker's samples in an 8-s transfer phase.
            # A few untimed transfers first, so the phase measures the steady state a long-running server is in.
            warm_up = [iter(list(itertools.islice(todo, WARM_UP_PER_CLIENT))) for todo in transfers_work]
            warmed = asyncio.run(run_phase(port, 30.0, warm_up, 201))
            spy = start_pyspy(workers[0], SECONDS) if workers else None
            pg_before = postgres_cpu() if engine == "postgres" else {}
            xid_before = next_xid() if engine == "postgres" else None
            worker_before = cpu_seconds(workers)
            transfers = asyncio.run(run_phase(port, SECONDS, transfers_work, 201))
            worker_cpu = cpu_seconds(workers) - worker_before
            pg_cpu = postgres_cpu_since(pg_before) if engine == "postgres" else 0.0
            xid_after = next_xid() if xid_before is not None else None
            write_xacts = xid_after - xid_before if xid_after is not None and xid_before is not None else None
            if spy is not None:
                spy.wait()
            noop = asyncio.run(run_phase(port, SECONDS, [itertools.repeat(health)] * CLIENTS, 200))
        verify_ok, records_after = setup.check(url)
    for phase_name, phase in (("warm-up", warmed), ("transfers", transfers), ("reads", reads)):
        for status, body in phase.samples.items():
            log(f"{phase_name}: HTTP {status}: {body.decode(errors='replace')}")
    if transfers.exhausted:
        log(f"{transfers.exhausted} clients ran out of prepared transfers: raise BENCH_API_MAX_TRANSFERS")
    noop_rps = noop.ok / noop.elapsed if noop.elapsed else 0.0
    tps = transfers.ok / transfers.elapsed if transfers.elapsed else 0.0
    log(f"transfers: {transfers.ok} created in {transfers.elapsed:.1f} s; health: {noop.ok} in {noop.elapsed:.1f} s")
    result = {
        "engine": engine,
        "workers": WORKERS,
        "clients": CLIENTS,
        "seconds": SECONDS,
        "noop_rps": round(noop_rps, 1),
        "transfers_tps": round(tps, 1),
        "transfers_p50_ms": round(transfers.percentile(0.50) * 1000, 2),
        "transfers_p99_ms": round(transfers.percentile(0.99) * 1000, 2),
        "transfers_vs_noop": round(tps / noop_rps, 3) if noop_rps else None,
        # CPU per created transfer during the transfer phase: the workers' Python, and the database server's.
        "worker_cpu_ms_per_transfer": round(worker_cpu * 1000 / transfers.ok, 2) if transfers.ok else None,
        "postgres_cpu_ms_per_transfer": round(pg_cpu * 1000 / transfers.ok, 2)
        if transfers.ok and engine == "postgres"
        else None,
        # Steadier than the timings on a shared machine: what batching requests into transactions would lower.
        "postgres_write_transactions_per_transfer": round(write_xacts / transfers.ok, 2)
        if transfers.ok and write_xacts is not None
        else None,
        "reads_rps": round(reads.ok / reads.elapsed, 1) if reads.elapsed else 0.0,
        "reads_p99_ms": round(reads.percentile(0.99) * 1000, 2),
        "worker_cpu_ms_per_read": round(reads_cpu * 1000 / reads.ok, 3) if reads.ok else None,
        "errors": {
            str(k): v
            for k, v in sorted(
                (warmed.errors + transfers.errors + reads.errors + noop.errors).items(), key=lambda kv: str(kv[0])
            )
        },
        "verify_ok": verify_ok,
        "records_match": records_after - records_before == transfers.ok + warmed.ok,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
