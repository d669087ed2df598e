"""The benchmarks' server: ``pocketbank serve`` in its own processes, and what /proc tells about its workers.

Shared by ``bench/api.py`` and ``bench/web.py``. Other ``POCKETBANK_*`` settings in the environment
(``POCKETBANK_GROUP_COMMIT_WRITERS``, ``POCKETBANK_REDIS_URL``, ...) pass through to the server.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

HOST = "127.0.0.1"


def use_bench_data_key() -> None:
    """A data key of the run's own for the setup and the server (they must share it), set as production would set
    it: without one, every container warns on stdout that its TOTP seeds are sealed under a key in the database."""
    from pocketbank.integrations.secretbox import new_key_entry

    os.environ.setdefault("POCKETBANK_DATA_KEYS", new_key_entry("bench"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def worker_pids(pid: int, workers: int) -> list[int]:
    """uvicorn's worker processes (not multiprocessing's resource tracker); one worker is the server itself."""
    if workers == 1:
        return [pid]
    try:
        kids = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    pids = []
    for child in kids:
        with suppress(OSError):
            if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes():
                pids.append(child)
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far."""
    total = 0
    for pid in pids:
        with suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat(5))
    return total / os.sysconf("SC_CLK_TCK")


def connections_per_worker(pids: list[int], port: int, client_ports: set[int]) -> list[int]:
    """How many of the clients' connections each worker accepted (from /proc: which process holds which socket)."""
    inodes = set()
    with suppress(OSError):
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            cols = line.split()
            local, remote, inode = int(cols[1].split(":")[1], 16), int(cols[2].split(":")[1], 16), cols[9]
            if local == port and remote in client_ports:
                inodes.add(f"socket:[{inode}]")
    counts = []
    for pid in pids:
        n = 0
        with suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with suppress(OSError):
                    n += os.readlink(fd) in inodes
        counts.append(n)
    return counts


@contextmanager
def server(url: str, port: int, workers: int) -> Iterator[subprocess.Popen[bytes]]:
    """``pocketbank serve`` on ``url``, its workers sharing a fresh CSRF secret; stopped with SIGINT at the end."""
    env = {**os.environ, "POCKETBANK_DATABASE_URL": url, "POCKETBANK_WEB_SECRET": secrets.token_urlsafe(32)}
    for name, value in (("SMS_SENDER", "memory"), ("PASSWORD_HASH_PROFILE", "fast"), ("LOG_LEVEL", "WARNING")):
        env.setdefault(f"POCKETBANK_{name}", value)
    cli = [sys.executable, "-c", "from pocketbank.cli.main import app; app()"]  # the ``pocketbank`` script
    cmd = [*cli, "serve", "--host", HOST, "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=env, stdout=sys.stderr)  # stdout carries only the result line
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}")
            with suppress(OSError), urllib.request.urlopen(f"http://{HOST}:{port}/v1/health", timeout=1) as r:
                if r.status == 200 and len(worker_pids(proc.pid, workers)) >= workers:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer /v1/health within 60 s")
            time.sleep(0.2)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
