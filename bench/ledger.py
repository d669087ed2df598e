"""Ledger throughput, latency and memory benchmark: one JSON line per engine on stdout, progress on stderr.

    .venv/bin/python bench/ledger.py                 # what ``make bench`` runs
    BENCH_SECONDS=2 BENCH_RSS_ACCOUNTS=100000 .venv/bin/python bench/ledger.py   # a quick run
    .venv/bin/python bench/ledger.py --profile sqlite   # cProfile of batches of 1000, top 15 by cumtime and tottime

Environment:

- ``BENCH_SECONDS`` (default 10): how long each phase runs (a phase also stops at ``BENCH_MAX_TRANSFERS``);
- ``BENCH_ENGINES`` (default ``sqlite,postgres``): which engines to run;
- ``BENCH_RSS_ACCOUNTS`` (default 1,000,000; 0 skips): accounts for the peak-RSS phase, run in a subprocess;
- ``BENCH_IDS`` (default ``sequential``): the transfers' ids, ``sequential`` (each one more than the last), ``time``
  (``integrations.ids.new_id``: the millisecond, then 80 random bits; what the API gives a transfer's legs) or
  ``random`` (128-bit hashes, as derived ids are); the raw baseline gets the same ids;
- ``POCKETBANK_BENCH_PG_URL`` / ``POCKETBANK_TEST_PG_URL``: the PostgreSQL server (default
  ``postgresql://postgres@127.0.0.1:5432/test``; skipped with a message when unreachable).

Every run works in a fresh area: a temporary SQLite file, or a PostgreSQL schema with a unique name (selected with
``options=-csearch_path=...``) that is dropped at the end; pgbench runs in a schema of its own in the database
``pocketbank_bench``. Durability is the engines' defaults: SQLite WAL with ``synchronous=FULL`` (the store's
pragmas), PostgreSQL with fsync and synchronous_commit on.

Keys: ``batchN_tps`` is N transfers per ``store.create_transfers`` call from one thread; ``group_commit_*`` is 32
threads each submitting single transfers through ``LedgerService(group_commit_writers=W)``; ``raw_batch1000_tps``
is the minimum work in plain SQL through the same driver (per transfer two balance UPDATEs and one INSERT, 1000
per commit), run in slices alternating with ``batch1000`` so that both see the same machine (on SQLite in a file of
its own, so that neither pays for the other's checkpoints); ``pgbench_tpcb_tps`` is pgbench's TPC-B-like run (8
clients) on the same server.
"""

from __future__ import annotations

import cProfile
import io
import itertools
import json
import os
import pstats
import random
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from pocketbank.domain.ledger import Account, AccountFlags, CreateTransferResult, Transfer
from pocketbank.integrations.clock import SystemClock
from pocketbank.integrations.ids import new_id
from pocketbank.services.ledger import LedgerService
from pocketbank.storage.engine import open_ledger_store
from pocketbank.storage.ledger_sqlite import PRAGMAS
from pocketbank.storage.ledger_store import LedgerStoreBase

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
PGBENCH_DB = "pocketbank_bench"
LEDGER = 1
CODE = 1
BANK_ID = 1
FIRST_CUSTOMER = 1_000
ACCOUNTS = 10_000
FUNDING = 10**12  # per customer; transfers move 1..100, so no transfer ever fails for lack of funds
ACCOUNT_BATCH = 8190
CALLERS = 32
OK = CreateTransferResult.OK

SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
MAX_TRANSFERS = int(os.environ.get("BENCH_MAX_TRANSFERS", "2000000"))
RSS_ACCOUNTS = int(os.environ.get("BENCH_RSS_ACCOUNTS", "1000000"))
IDS = os.environ.get("BENCH_IDS", "sequential")
PAIRED_SLICES = 10


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def now_ns() -> int:
    return time.time_ns()


def chunks(n: int, size: int) -> Iterator[range]:
    for start in range(0, n, size):
        yield range(start, min(n, start + size))


# -- the workload ------------------------------------------------------------------------------------------


def transfer_ids(scheme: str) -> Iterator[int]:
    """An endless supply of transfer ids (``BENCH_IDS``); next() on each is atomic under the GIL."""
    if scheme == "sequential":
        return itertools.count(10**9)
    if scheme == "time":
        return iter(new_id, None)
    if scheme == "random":
        rng = random.Random(7)
        return iter(lambda: rng.getrandbits(127) + 1, None)
    raise SystemExit(f"BENCH_IDS={scheme!r}: use sequential, time or random")


class Workload:
    """Customer accounts funded from a bank account; transfers between random pairs with fresh ids."""

    def __init__(self, accounts: int, seed: int = 42) -> None:
        self.customers = list(range(FIRST_CUSTOMER, FIRST_CUSTOMER + accounts))
        self._ids = transfer_ids(IDS)
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()

    def next_id(self) -> int:
        return next(self._ids)

    def transfers(self, n: int, rng: random.Random | None = None) -> list[Transfer]:
        r = rng or self._rng
        customers = self.customers
        out = []
        for _ in range(n):
            debit, credit = r.sample(customers, 2)
            out.append(Transfer(next(self._ids), debit, credit, r.randint(1, 100), LEDGER, CODE))
        return out


def create_accounts(store: LedgerStoreBase, ids: Iterable[int], flags: int) -> None:
    batch: list[Account] = []
    for i in ids:
        batch.append(Account(i, LEDGER, CODE, flags))
        if len(batch) == ACCOUNT_BATCH:
            _create_account_batch(store, batch)
            batch = []
    if batch:
        _create_account_batch(store, batch)


def _create_account_batch(store: LedgerStoreBase, batch: list[Account]) -> None:
    results = store.create_accounts([batch], now_ns())[0]
    bad = [r for r in results if r != "ok"]
    if bad:
        raise RuntimeError(f"account creation failed: {bad[:3]}")


def setup_ledger(store: LedgerStoreBase, w: Workload) -> None:
    """The bank's account (no limit) and the customers (DEBITS_MUST_NOT_EXCEED_CREDITS), funded by big batches."""
    create_accounts(store, [BANK_ID], AccountFlags.NONE)
    create_accounts(store, w.customers, AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
    for part in chunks(len(w.customers), ACCOUNT_BATCH):
        funding = [Transfer(w.next_id(), BANK_ID, w.customers[i], FUNDING, LEDGER, CODE) for i in part]
        outcome = store.create_transfers([funding], now_ns())
        bad = [r for r in outcome.results[0] if r is not OK]
        if bad:
            raise RuntimeError(f"funding failed: {bad[:3]}")


# -- phases ------------------------------------------------------------------------------------------------


class Phase:
    """Bounded in time (``SECONDS``) and in count (``MAX_TRANSFERS``)."""

    def __init__(self) -> None:
        self.done = 0
        self.failed = 0
        self.start = time.perf_counter()
        self.deadline = self.start + SECONDS
        self.elapsed = 0.0

    def more(self) -> bool:
        return self.done < MAX_TRANSFERS and time.perf_counter() < self.deadline

    def finish(self) -> Phase:  # for a phase run in one go; run_paired adds up its slices itself
        self.elapsed = time.perf_counter() - self.start
        return self

    @property
    def tps(self) -> float:
        return self.done / self.elapsed if self.elapsed else 0.0


def run_batches(store: LedgerStoreBase, w: Workload, size: int) -> Phase:
    batch = w.transfers(size)
    store.create_transfers([batch], now_ns())  # warm-up: connection, statement caches
    p = Phase()
    while p.more():
        batch = w.transfers(size)
        outcome = store.create_transfers([batch], now_ns())
        p.done += size
        p.failed += sum(1 for r in outcome.results[0] if r is not OK)
    return p.finish()


def run_group_commit(url: str, w: Workload, writers: int) -> tuple[Phase, list[float]]:
    store = open_ledger_store(url, create=False)
    service = LedgerService(store, SystemClock(), group_commit_writers=writers)
    latencies: list[list[float]] = [[] for _ in range(CALLERS)]
    counts = [[0, 0] for _ in range(CALLERS)]
    try:
        service.create_transfers(w.transfers(1))  # warm-up
        p = Phase()

        def caller(k: int) -> None:
            rng = random.Random(k)
            lat = latencies[k]
            c = counts[k]
            clock = time.perf_counter
            while clock() < p.deadline and c[0] * CALLERS < MAX_TRANSFERS:
                t = w.transfers(1, rng)
                t0 = clock()
                result = service.create_transfers(t)
                lat.append(clock() - t0)
                c[0] += 1
                c[1] += result[0] is not OK

        threads = [threading.Thread(target=caller, args=(k,)) for k in range(CALLERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        p.finish()
        p.done = sum(c[0] for c in counts)
        p.failed = sum(c[1] for c in counts)
    finally:
        service.close()
    return p, sorted(x for lat in latencies for x in lat)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


# -- raw SQL baseline --------------------------------------------------------------------------------------

RAW_DDL = (
    "CREATE TABLE raw_accounts (id {blob} PRIMARY KEY, balance BIGINT NOT NULL)",
    "CREATE TABLE raw_transfers (id {blob} PRIMARY KEY, debit_account_id {blob} NOT NULL, "
    "credit_account_id {blob} NOT NULL, amount BIGINT NOT NULL, timestamp BIGINT NOT NULL)",
)


def raw_rows(w: Workload, n: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    ts = now_ns()
    debits, credits, inserts = [], [], []
    for i, t in enumerate(w.transfers(n)):
        d, c = t.debit_account_id.to_bytes(16, "big"), t.credit_account_id.to_bytes(16, "big")
        debits.append((t.amount, d))
        credits.append((t.amount, c))
        inserts.append((t.id.to_bytes(16, "big"), d, c, t.amount, ts + i))
    return debits, credits, inserts


@contextmanager
def raw_sqlite(path: str, w: Workload) -> Iterator[Callable[[], None]]:
    """The raw baseline's tables in their own file, with the store's durability pragmas; yields one batch."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    for ddl in RAW_DDL:
        conn.execute(ddl.format(blob="BLOB"))
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO raw_accounts VALUES (?, ?)", [(i.to_bytes(16, "big"), FUNDING) for i in w.customers])
    conn.execute("COMMIT")

    def batch() -> None:
        debits, credits, inserts = raw_rows(w, 1000)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("UPDATE raw_accounts SET balance = balance - ? WHERE id = ?", debits)
        conn.executemany("UPDATE raw_accounts SET balance = balance + ? WHERE id = ?", credits)
        conn.executemany("INSERT INTO raw_transfers VALUES (?, ?, ?, ?, ?)", inserts)
        conn.execute("COMMIT")

    try:
        yield batch
    finally:
        conn.close()


@contextmanager
def raw_postgres(url: str, w: Workload) -> Iterator[Callable[[], None]]:
    import psycopg

    with psycopg.connect(url, autocommit=False) as conn:
        for ddl in RAW_DDL:
            conn.execute(ddl.format(blob="bytea"))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO raw_accounts VALUES (%s, %s)", [(i.to_bytes(16, "big"), FUNDING) for i in w.customers]
            )
        conn.commit()

        def batch() -> None:
            debits, credits, inserts = raw_rows(w, 1000)
            with conn.cursor() as cur:
                cur.executemany("UPDATE raw_accounts SET balance = balance - %s WHERE id = %s", debits)
                cur.executemany("UPDATE raw_accounts SET balance = balance + %s WHERE id = %s", credits)
                cur.executemany("INSERT INTO raw_transfers VALUES (%s, %s, %s, %s, %s)", inserts)
            conn.commit()

        yield batch


def run_paired(store: LedgerStoreBase, w: Workload, raw_batch: Callable[[], None]) -> tuple[Phase, Phase]:
    """Batches of 1000 through the store and through the raw baseline, in alternating slices of a tenth of the
    phase each: on a shared, noisy machine both then see the same interference, so their ratio is steadier
    than that of two phases run one after the other."""
    ours, raw = Phase(), Phase()
    ours.elapsed = raw.elapsed = 0.0

    def ours_batch() -> None:
        outcome = store.create_transfers([w.transfers(1000)], now_ns())
        ours.failed += sum(1 for r in outcome.results[0] if r is not OK)

    ours_batch()  # warm-up: connection, statement caches
    raw_batch()
    slice_s = SECONDS / PAIRED_SLICES
    for _ in range(PAIRED_SLICES):
        for phase, step in ((ours, ours_batch), (raw, raw_batch)):
            t0 = time.perf_counter()
            deadline = t0 + slice_s
            while time.perf_counter() < deadline and phase.done < MAX_TRANSFERS:
                step()
                phase.done += 1000
            phase.elapsed += time.perf_counter() - t0
    return ours, raw


# -- pgbench -----------------------------------------------------------------------------------------------


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def with_search_path(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


def pgbench_tpcb(admin_url: str) -> float | None:
    """pgbench -i -s 1 into a fresh schema of database ``pocketbank_bench``, then a TPC-B-like run of 8 clients."""
    import psycopg

    if shutil.which("pgbench") is None:
        log("pgbench not found on PATH; skipping pgbench_tpcb_tps")
        return None
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [PGBENCH_DB]).fetchone() is None:
            with suppress(psycopg.errors.DuplicateDatabase):  # a concurrent run may have just created it
                conn.execute(f"CREATE DATABASE {PGBENCH_DB}")
    db_url = with_database(admin_url, PGBENCH_DB)
    schema = f"pgbench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    env = {**os.environ, "PGOPTIONS": f"-c search_path={schema}"}
    try:
        subprocess.run(["pgbench", "-i", "-s", "1", "-q", db_url], env=env, check=True, capture_output=True, text=True)
        secs = max(1, round(SECONDS))
        run = subprocess.run(
            ["pgbench", "-b", "tpcb-like", "-c", "8", "-j", "2", "-T", str(secs), db_url],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", run.stdout)
        if m is None:
            log(f"could not parse pgbench output:\n{run.stdout}")
            return None
        return float(m.group(1))
    except subprocess.CalledProcessError as exc:
        log(f"pgbench failed: {exc.stderr.strip()}")
        return None
    finally:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


# -- peak RSS (in a subprocess) ----------------------------------------------------------------------------


def rss_child(url: str, accounts: int) -> None:
    """Create ``accounts`` accounts in batches of 8190, then run transfers among them; print peak RSS as JSON.

    The accounts have no limit flag so that transfers between any two of them succeed without funding each one
    first; every batch of 1000 touches ~2000 accounts spread over the whole id range.
    """
    base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    store = open_ledger_store(url)
    t0 = time.perf_counter()
    create_accounts(store, range(FIRST_CUSTOMER, FIRST_CUSTOMER + accounts), AccountFlags.NONE)
    created_s = time.perf_counter() - t0
    w = Workload(accounts, seed=7)
    p = run_batches(store, w, 1000)
    store.close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "rss_mb": round(rss_mb, 1),
        "baseline_mb": round(base_mb, 1),
        "create_accounts_s": round(created_s, 2),
        "transfers": p.done,
        "transfers_s": round(p.elapsed, 2),
        "failed": p.failed,
    }
    print(json.dumps(out))


def measure_rss(url: str) -> dict[str, Any] | None:
    if RSS_ACCOUNTS <= 0:
        log("BENCH_RSS_ACCOUNTS=0: skipping the RSS phase")
        return None
    # Not a direct child: on Linux a process's ru_maxrss starts at the peak RSS of the image it exec'ed from, and
    # subprocess vforks from this (large) process. A shell in between forks the benchmark from its own small image.
    run = subprocess.run(
        [
            "/bin/sh",
            "-c",
            '"$0" "$@"; exit $?',
            sys.executable,
            os.path.abspath(__file__),
            "--rss-child",
            url,
            str(RSS_ACCOUNTS),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        log(f"RSS subprocess failed:\n{run.stderr}")
        return None
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    log(f"rss phase ({RSS_ACCOUNTS} accounts): {result}")
    return result


# -- engines -----------------------------------------------------------------------------------------------


@contextmanager
def sqlite_area() -> Iterator[Callable[[str], str]]:
    with tempfile.TemporaryDirectory(prefix="pocketbank-bench-") as tmp:
        yield lambda name: f"sqlite:///{os.path.join(tmp, name + '.db')}"


@contextmanager
def pg_area(admin_url: str) -> Iterator[Callable[[str], str]]:
    import psycopg

    prefix = f"pbbench_{uuid.uuid4().hex[:12]}"
    created: list[str] = []

    def area(name: str) -> str:
        schema = f"{prefix}_{name}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        created.append(schema)
        return with_search_path(admin_url, schema)

    try:
        yield area
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for schema in created:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def pg_admin_url() -> str | None:
    """The PostgreSQL server to use, or None (with a message) when it is unreachable."""
    url = os.environ.get("POCKETBANK_BENCH_PG_URL") or os.environ.get("POCKETBANK_TEST_PG_URL") or DEFAULT_PG_URL
    try:
        import psycopg

        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        log(f"PostgreSQL unreachable at {url}: skipping postgres ({exc})")
        return None
    return url


def bench_engine(engine: str, area: Callable[[str], str], admin_url: str | None) -> dict[str, Any]:
    seconds: dict[str, float] = {}
    failed = 0
    log(f"{engine}: load average {os.getloadavg()} on {os.cpu_count()} CPUs (other work on this machine skews results)")
    url = area("main")
    t0 = time.perf_counter()
    store = open_ledger_store(url)
    w = Workload(ACCOUNTS)
    setup_ledger(store, w)
    seconds["setup"] = time.perf_counter() - t0
    out: dict[str, Any] = {"engine": engine}

    for size in (1, 100):
        p = run_batches(store, w, size)
        log(f"{engine} batch{size}: {p.done} transfers in {p.elapsed:.2f}s = {p.tps:,.0f}/s")
        out[f"batch{size}_tps"] = round(p.tps)
        seconds[f"batch{size}"] = p.elapsed
        failed += p.failed

    best: tuple[Phase, list[float], int] | None = None
    for writers in (1, 2) if engine == "postgres" else (1,):
        p, lat = run_group_commit(url, w, writers)
        log(
            f"{engine} group commit W={writers}: {p.done} in {p.elapsed:.2f}s = {p.tps:,.0f}/s, "
            f"p50 {percentile(lat, 0.5) * 1e3:.1f} ms, p99 {percentile(lat, 0.99) * 1e3:.1f} ms"
        )
        seconds[f"group_commit_w{writers}"] = p.elapsed
        failed += p.failed
        if best is None or p.tps > best[0].tps:
            best = (p, lat, writers)
    assert best is not None
    p, lat, writers = best
    out["group_commit_tps"] = round(p.tps)
    out["group_commit_writers"] = writers
    out["group_commit_p50_ms"] = round(percentile(lat, 0.5) * 1e3, 2)
    out["group_commit_p99_ms"] = round(percentile(lat, 0.99) * 1e3, 2)

    raw_area = raw_postgres(url, w) if engine == "postgres" else raw_sqlite(area("raw").removeprefix("sqlite:///"), w)
    with raw_area as raw_batch:
        p, raw = run_paired(store, w, raw_batch)
    log(f"{engine} batch1000: {p.done} transfers in {p.elapsed:.2f}s = {p.tps:,.0f}/s")
    log(f"{engine} raw batch1000 (interleaved with it): {raw.done} in {raw.elapsed:.2f}s = {raw.tps:,.0f}/s")
    out["batch1000_tps"] = round(p.tps)
    out["raw_batch1000_tps"] = round(raw.tps)
    out["batch1000_vs_raw"] = round(p.tps / raw.tps, 3) if raw.tps else None
    seconds["batch1000_and_raw"] = p.elapsed + raw.elapsed
    failed += p.failed

    if engine == "postgres" and admin_url is not None:
        t0 = time.perf_counter()
        tps = pgbench_tpcb(admin_url)
        seconds["pgbench"] = time.perf_counter() - t0
        log(f"pgbench tpcb-like -c 8 -j 2: {tps} tps")
        out["pgbench_tpcb_tps"] = round(tps) if tps is not None else None
        out["batch1000_vs_pgbench"] = round(out["batch1000_tps"] / tps, 2) if tps else None

    t0 = time.perf_counter()
    report = store.verify()
    seconds["verify"] = time.perf_counter() - t0
    store.close()
    log(f"{engine} verify: {report.accounts} accounts, {report.transfers} transfers, problems: {report.problems[:3]}")
    out["verify_ok"] = report.ok

    t0 = time.perf_counter()
    rss = measure_rss(area("rss"))
    seconds["rss"] = time.perf_counter() - t0
    out["rss_mb"] = rss["rss_mb"] if rss else None
    failed += rss["failed"] if rss else 0

    log(f"{engine}: done, load average {os.getloadavg()}")
    out["accounts"] = ACCOUNTS
    out["ids"] = IDS
    if failed:
        out["failed"] = failed
    out["seconds"] = {k: round(v, 2) for k, v in seconds.items()}
    return out


def profile(engine: str) -> None:
    """cProfile 20 ``store.create_transfers`` calls of 1000 transfers (after warming up); top 15 by cumtime, tottime."""
    admin = pg_admin_url() if engine == "postgres" else None
    if engine == "postgres" and admin is None:
        return
    ctx = pg_area(admin) if admin is not None else sqlite_area()
    with ctx as area:
        store = open_ledger_store(area("profile"))
        w = Workload(ACCOUNTS)
        setup_ledger(store, w)
        for _ in range(5):
            store.create_transfers([w.transfers(1000)], now_ns())
        batches = [w.transfers(1000) for _ in range(20)]
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        for batch in batches:
            store.create_transfers([batch], now_ns())
        prof.disable()
        elapsed = time.perf_counter() - t0
        store.close()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("cumulative").print_stats(15)
    # By own time too: the cumulative list hides which C calls (executemany, execute, the commit) cost what.
    stats.sort_stats("tottime").print_stats(15)
    print(f"{engine}: 20 batches of 1000 in {elapsed:.3f}s ({20000 / elapsed:,.0f}/s); per-batch = total / 20")
    print(buf.getvalue())


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "--rss-child":
        rss_child(sys.argv[2], int(sys.argv[3]))
        return
    if len(sys.argv) >= 2 and sys.argv[1] == "--profile":
        profile(sys.argv[2] if len(sys.argv) > 2 else "sqlite")
        return
    engines = [e.strip() for e in os.environ.get("BENCH_ENGINES", "sqlite,postgres").split(",") if e.strip()]
    for engine in engines:
        if engine == "sqlite":
            with sqlite_area() as area:
                print(json.dumps(bench_engine("sqlite", area, None)), flush=True)
        elif engine == "postgres":
            admin = pg_admin_url()
            if admin is None:
                continue
            with pg_area(admin) as area:
                print(json.dumps(bench_engine("postgres", area, admin)), flush=True)
        else:
            log(f"unknown engine {engine!r} (BENCH_ENGINES takes sqlite,postgres)")


if __name__ == "__main__":
    main()
