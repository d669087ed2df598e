"""Crash tests: kill -9 writer processes under load; on PostgreSQL also stop the server (immediate) under load.

Writers (``crash_writer.py``) log every op before submitting it (``SENT``) and every result after (``ACK``), each
line fsynced. After the crash the store must agree with the logs:

- every transfer ACKed ``ok``/``exists`` is present exactly once, with its fields (acked_but_lost = 0);
- nothing is present that was never SENT; nothing ACKed as a failure is present;
- linked chains are all-or-none; ``verify()`` is clean; money is conserved and no constrained account is negative;
- resubmitting every SENT op with its original fields: committed ids answer ``exists``, the rest apply or fail
  cleanly; verify is still clean and money still conserved; a second resubmission applies nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pocketbank.domain.ledger import (
    Account,
    AccountFlags,
    CreateAccountResult,
    CreateTransferResult,
    Transfer,
)
from pocketbank.integrations.clock import SystemClock
from pocketbank.services.ledger import LedgerService
from pocketbank.storage.engine import open_ledger_store

R = CreateTransferResult
WRITER = Path(__file__).with_name("crash_writer.py")
LEDGER = 1
CODE = 10
BANK, FEE = 1, 2
CUSTOMERS = list(range(101, 109))  # as in crash_writer.py
HOLDERS = [*CUSTOMERS, FEE]
ALL_ACCOUNTS = [BANK, *HOLDERS]
FUNDING = 5_000
TOTAL = FUNDING * len(CUSTOMERS)
SUCCESS = {R.OK.value, R.EXISTS.value}
PG_VERSION_DIR = "/etc/postgresql"


def setup_ledger(url: str) -> None:
    svc = LedgerService(open_ledger_store(url), SystemClock())
    try:
        dmnec = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
        accounts = [Account(BANK, LEDGER, CODE)] + [Account(i, LEDGER, CODE, flags=dmnec) for i in HOLDERS]
        assert svc.create_accounts(accounts) == [CreateAccountResult.OK] * len(accounts)
        funding = [Transfer(900 + c, BANK, c, FUNDING, LEDGER, CODE) for c in CUSTOMERS]
        assert svc.create_transfers(funding) == [R.OK] * len(funding)
    finally:
        svc.close()


@dataclass
class Logs:
    ops: dict[int, list[Transfer]] = field(default_factory=dict)  # first id -> the op as sent
    sent: dict[int, Transfer] = field(default_factory=dict)
    acks: dict[int, list[str]] = field(default_factory=dict)
    errors: int = 0
    acks_after_last_error: int = 0  # summed over writers: proof that they went on after an outage

    @property
    def acked(self) -> set[int]:
        return {i for i, rs in self.acks.items() if SUCCESS & set(rs)}

    @property
    def in_doubt(self) -> set[int]:
        return set(self.sent) - set(self.acks)


def read_logs(paths: list[Path]) -> Logs:
    logs = Logs()
    for path in paths:
        since_error = 0
        for line in path.read_text(encoding="utf-8").splitlines():
            kind, _, rest = line.partition(" ")
            try:
                if kind == "SENT":
                    op = [Transfer(**d) for d in json.loads(rest)]
                    logs.ops.setdefault(op[0].id, op)
                    for t in op:
                        logs.sent[t.id] = t
                elif kind == "ACK":
                    tid, result = rest.split(" ")
                    logs.acks.setdefault(int(tid), []).append(result)
                    since_error += 1
                elif kind == "ERR":
                    logs.errors += 1
                    since_error = 0
            except ValueError:  # a line cut short by kill -9: the op it starts was never submitted
                continue
        logs.acks_after_last_error += since_error
    return logs


def start_writers(url: str, tmp: Path, n: int, deadline: float, reconnect: bool) -> list[subprocess.Popen[bytes]]:
    procs = []
    for w in range(n):
        args = [sys.executable, str(WRITER), url, str(w), str(tmp / f"writer{w}.log"), str(deadline)]
        if reconnect:
            args.append("--reconnect")
        with open(tmp / f"writer{w}.out", "wb") as out:
            procs.append(subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT))
    return procs


def wait_started(tmp: Path, procs: list[subprocess.Popen[bytes]], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = [tmp / f"writer{w}.log" for w in range(len(procs))]
        if all(p.exists() and p.read_text(encoding="utf-8").startswith("START") for p in logs):
            return
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.05)
    raise AssertionError(f"writers did not start: {writer_output(tmp, len(procs))}")


def writer_output(tmp: Path, n: int) -> str:
    return "\n".join((tmp / f"writer{w}.out").read_text(encoding="utf-8", errors="replace") for w in range(n))


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        p.wait(timeout=30)


def check_against_logs(url: str, logs: Logs, label: str) -> None:
    """Everything the logs promise, then the resubmission of every SENT op."""
    svc = LedgerService(open_ledger_store(url, create=False), SystemClock())
    try:
        ids = list(logs.sent)
        present = {t.id: t for t in svc.lookup_transfers(ids)}
        report = svc.verify()
        acked = logs.acked
        in_doubt = logs.in_doubt
        acked_but_lost = acked - set(present)
        committed_in_doubt = in_doubt & set(present)
        failed_but_present = {i for i, rs in logs.acks.items() if not SUCCESS & set(rs)} & set(present)
        bal = {a.id: a.balance for a in svc.lookup_accounts(ALL_ACCOUNTS)}

        # Resubmit every op with its original fields.
        first: Counter[str] = Counter()
        not_exists = []
        for op in logs.ops.values():
            rs = [r.value for r in svc.create_transfers(op)]
            first.update(rs)
            not_exists += [(t.id, r) for t, r in zip(op, rs, strict=True) if t.id in present and r != "exists"]
        after_retry = {t.id for t in svc.lookup_transfers(ids)}
        bal_retry = {a.id: a.balance for a in svc.lookup_accounts(ALL_ACCOUNTS)}
        report_retry = svc.verify()
        second: Counter[str] = Counter()
        for op in logs.ops.values():
            second.update(r.value for r in svc.create_transfers(op))
        bal_second = {a.id: a.balance for a in svc.lookup_accounts(ALL_ACCOUNTS)}
    finally:
        svc.close()

    print(
        f"{label}: sent={len(logs.sent)} acked={len(acked)} in_doubt={len(in_doubt)} "
        f"committed_in_doubt={len(committed_in_doubt)} acked_but_lost={len(acked_but_lost)} errors={logs.errors} "
        f"present={len(present)} retry={dict(first)} verify_ok={report.ok}/{report_retry.ok}"
    )
    assert not acked_but_lost, sorted(acked_but_lost)[:10]
    assert not failed_but_present, sorted(failed_but_present)[:10]
    # Only SENT ids, each once: the journal holds funding + what the logs account for, nothing else.
    assert report.transfers == len(CUSTOMERS) + len(present)
    for i, t in present.items():
        s = logs.sent[i]
        assert (t.debit_account_id, t.credit_account_id, t.amount, t.flags) == (
            s.debit_account_id,
            s.credit_account_id,
            s.amount,
            s.flags,
        )
    for op in logs.ops.values():
        legs = [t.id in present for t in op]
        assert all(legs) or not any(legs), f"half-applied chain {[t.id for t in op]}"
    assert report.ok, report.problems
    assert sum(bal.values()) == 0 and sum(bal[i] for i in HOLDERS) == TOTAL
    assert all(bal[i] >= 0 for i in HOLDERS), bal
    # Retries: committed ids are deduplicated; nothing committed is lost; the rest applied or failed cleanly.
    assert not not_exists, not_exists[:10]
    assert set(present) <= after_retry
    assert report_retry.ok, report_retry.problems
    assert sum(bal_retry.values()) == 0 and sum(bal_retry[i] for i in HOLDERS) == TOTAL
    assert all(bal_retry[i] >= 0 for i in HOLDERS), bal_retry
    assert R.OK.value not in second, second
    assert bal_second == bal_retry


@pytest.mark.parametrize("writers", [3])
def test_kill9_writers_under_load(db_url: str, tmp_path: Path, writers: int) -> None:
    engine = "sqlite" if db_url.startswith("sqlite") else "postgres"
    setup_ledger(db_url)
    procs = start_writers(db_url, tmp_path, writers, time.time() + 60, reconnect=False)
    try:
        wait_started(tmp_path, procs)
        time.sleep(2.5)
        assert all(p.poll() is None for p in procs), writer_output(tmp_path, writers)
        for p in procs:
            os.kill(p.pid, signal.SIGKILL)
    finally:
        stop_all(procs)
    assert all(p.returncode == -signal.SIGKILL for p in procs), [p.returncode for p in procs]
    logs = read_logs([tmp_path / f"writer{w}.log" for w in range(writers)])
    assert len(logs.acked) > 20, "the load never got going"
    check_against_logs(db_url, logs, f"T3 app-kill9[{engine}]")


# -- PostgreSQL: stop the server (immediate) under load and start it again --------------------------------------


def pg_ctl(action: str, *extra: str) -> None:
    version = os.listdir(PG_VERSION_DIR)[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action, *extra],
        check=True,
        capture_output=True,
        timeout=60,
    )


def wait_pg_ready(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], check=False, timeout=10)
        if ready.returncode == 0:
            return
        time.sleep(0.2)
    raise AssertionError("PostgreSQL did not come back")


@pytest.mark.pg_restart
@pytest.mark.postgres
def test_pg_immediate_restart_under_load(pg_url: str, tmp_path: Path) -> None:
    if not os.path.isdir(PG_VERSION_DIR):
        pytest.skip("no local PostgreSQL cluster to restart (pg_ctlcluster)")
    writers = 3
    setup_ledger(pg_url)
    url = f"{pg_url}&connect_timeout=3"  # pg_url always carries ?options=...
    procs = start_writers(url, tmp_path, writers, time.time() + 30, reconnect=True)
    outage = 0.0
    try:
        wait_started(tmp_path, procs)
        time.sleep(1.5)
        assert all(p.poll() is None for p in procs), writer_output(tmp_path, writers)
        down = time.monotonic()
        try:
            pg_ctl("stop", "-m", "immediate")
            time.sleep(1.0)
        finally:
            pg_ctl("start")
            wait_pg_ready()
            outage = time.monotonic() - down
        time.sleep(2.5)  # writers go on after the restart
        for w in range(writers):
            (tmp_path / f"writer{w}.log.stop").touch()
        for p in procs:
            p.wait(timeout=30)
    finally:
        stop_all(procs)
    assert all(p.returncode == 0 for p in procs), writer_output(tmp_path, writers)
    logs = read_logs([tmp_path / f"writer{w}.log" for w in range(writers)])
    print(f"T3 pg-restart: outage={outage:.1f}s acks_after_last_error={logs.acks_after_last_error}")
    assert logs.errors > 0, "the outage went unnoticed: did the server really stop?"
    assert logs.acks_after_last_error > 0, f"writers did not survive the outage: {writer_output(tmp_path, writers)}"
    check_against_logs(pg_url, logs, "T3 pg-restart")
