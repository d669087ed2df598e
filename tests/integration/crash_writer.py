"""A writer process for test_crash.py: runs a load of transfers until killed or until its deadline.

Every op (one transfer, or a linked payment + fee chain) is logged before it is submitted and its results after,
each line fsynced, so the log tells exactly what the ledger may and must contain after a kill -9:

    START <pid>
    SENT <json: list of transfers>      written and fsynced BEFORE submitting
    ACK <id> <result>                   written and fsynced after the result came back, one per transfer
    ERR <first id> <exception>          the submission raised: the op is in doubt

Ids are derived from the worker number and a sequence number, so they never collide between writers. Now and
then a writer resubmits one of its earlier ops (a client retry), which must answer ``exists`` or
``id_already_failed``. The writer stops cleanly at its deadline or when ``LOG.stop`` exists. With ``--reconnect``
a failed submission (the server went away) is logged, the store is closed and reopened, and the load goes on.

Usage: python crash_writer.py URL WORKER LOG DEADLINE_EPOCH_S [--reconnect]
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sys
import time
from dataclasses import asdict
from typing import Any

from pocketbank.domain.ledger import Transfer, TransferFlags
from pocketbank.integrations.clock import SystemClock
from pocketbank.services.ledger import LedgerService
from pocketbank.storage.engine import open_ledger_store

LEDGER = 1
CODE = 10
FEE = 2
CUSTOMERS = list(range(101, 109))


def transfer_id(worker: int, seq: int, leg: int) -> int:
    return (worker + 1) * 10**9 + seq * 2 + leg


def make_op(rng: random.Random, worker: int, seq: int) -> list[Transfer]:
    src, dst = rng.sample(CUSTOMERS, 2)
    amount = rng.randint(1, 300)
    if rng.random() < 0.3:
        return [
            Transfer(transfer_id(worker, seq, 0), src, dst, amount, LEDGER, CODE, flags=TransferFlags.LINKED),
            Transfer(transfer_id(worker, seq, 1), src, FEE, rng.randint(1, 20), LEDGER, CODE + 1),
        ]
    return [Transfer(transfer_id(worker, seq, 0), src, dst, amount, LEDGER, CODE)]


class Log:
    def __init__(self, path: str) -> None:
        self.f = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the process

    def write(self, line: str) -> None:
        self.f.write(line + "\n")
        self.f.flush()
        os.fsync(self.f.fileno())


def open_service(url: str) -> LedgerService:
    return LedgerService(open_ledger_store(url, create=False), SystemClock())


def main(argv: list[str]) -> int:
    url, worker, log_path, deadline = argv[0], int(argv[1]), argv[2], float(argv[3])
    reconnect = "--reconnect" in argv
    rng = random.Random(1000 + worker)
    log = Log(log_path)
    svc: Any = open_service(url)
    svc.lookup_accounts([FEE])  # connect before announcing the start
    log.write(f"START {os.getpid()}")
    sent: list[list[Transfer]] = []
    seq = 0
    stop_file = log_path + ".stop"
    while time.time() < deadline and not os.path.exists(stop_file):
        if sent and rng.random() < 0.15:
            op = rng.choice(sent)  # a client retry of an earlier op
        else:
            op = make_op(rng, worker, seq)
            seq += 1
            sent.append(op)
        log.write("SENT " + json.dumps([asdict(t) for t in op]))
        try:
            results = svc.create_transfers(op)
        except Exception as exc:
            if not reconnect:
                raise
            log.write(f"ERR {op[0].id} {type(exc).__name__}")
            svc = reopen(svc, url, deadline)
            continue
        for t, r in zip(op, results, strict=True):
            log.write(f"ACK {t.id} {r.value}")
    svc.close()
    log.f.close()
    return 0


def reopen(svc: Any, url: str, deadline: float) -> Any:
    """Drop the broken store and open a new one, retrying until the server is back (or the deadline passes)."""
    with contextlib.suppress(Exception):  # the connection is already broken; closing it may fail too
        svc.close()
    while True:
        fresh = None
        try:
            fresh = open_service(url)
            fresh.lookup_accounts([FEE])
            return fresh
        except Exception:
            if fresh is not None:
                with contextlib.suppress(Exception):
                    fresh.close()
            if time.time() >= deadline:
                raise
            time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
