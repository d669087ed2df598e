"""The ASGI entry point for ``pocketbank serve`` (``uvicorn --factory pocketbank.api.main:create_app_from_env``).

Each uvicorn worker process builds its own container from the environment, and runs the bank's background jobs in
a daemon thread: the scheduler that posts delayed transfers, the ledger's pending-transfer sweeper, and every 5
minutes housekeeping (expired idempotency keys, long-published outbox events). Running them in every worker is safe:
posting and expiring are exactly-once in the ledger, whoever gets there first, and purges delete rows at most once.

While it serves, the garbage collector is set for a long-running server (``tuned_gc``).

With ``POCKETBANK_NATS_URL`` set, a second daemon thread relays the outbox to NATS JetStream every second
(``services.outbox_relay``). It has its own thread and a shorter interval than the jobs because other processes wait
for these events (a second of latency, not five), and because a NATS outage makes its passes wait for timeouts, which
must not hold up the posting of due transfers. Every worker runs it; the outbox claim and the broker's deduplication
by event id make that safe.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import structlog
from fastapi import FastAPI

from pocketbank.api.app import create_app
from pocketbank.bootstrap import Container, build_container
from pocketbank.services.outbox_relay import OutboxRelay

log = structlog.get_logger("pocketbank.jobs")

JOB_INTERVAL_SECONDS = 5.0
HOUSEKEEPING_EVERY = 60  # job ticks: every 5 minutes (a run deletes in bounded steps: services.housekeeping)
RELAY_INTERVAL_SECONDS = 1.0
RELAY_MAX_BACKOFF_SECONDS = 30.0
OLDER_GENERATIONS = 20  # young passes per middle-generation pass, and middle per old (Python's own: 10 and 10)


def run_jobs(container: Container, stop: threading.Event, interval: float = JOB_INTERVAL_SECONDS) -> None:
    ticks = 0
    while not stop.wait(interval):
        try:
            posted = container.transfers.post_due()
            expired = container.ledger.expire_pending()
            resumed = container.transfers.resume_stalled()
            if posted or expired or resumed:
                log.info("jobs", transfers_posted=posted, pending_expired=expired, transfers_resumed=resumed)
            ticks += 1
            if ticks % HOUSEKEEPING_EVERY == 1:  # the first tick too: a restarted worker catches up at once
                done = container.housekeeping.run_once()
                if done.total:
                    log.info("housekeeping", idempotency_keys=done.idempotency_keys, outbox_events=done.outbox_events)
        except Exception:  # a failed pass is retried on the next tick; the jobs must not die
            log.exception("background job failed")


def run_relay(relay: OutboxRelay, stop: threading.Event, interval: float = RELAY_INTERVAL_SECONDS) -> None:
    """Drain the outbox to the broker every ``interval``; after a failed pass wait twice as long (up to 30 s), so an
    outage costs a log line now and then rather than every second, and the first pass after it catches up."""
    wait = interval
    while not stop.wait(wait):
        try:
            result = relay.drain()
        except Exception:  # the database failed: what was published is published again, and deduplicated
            log.exception("outbox relay pass failed")
            wait = min(wait * 2, RELAY_MAX_BACKOFF_SECONDS)
            continue
        wait = min(wait * 2, RELAY_MAX_BACKOFF_SECONDS) if result.failed else interval
        if result.duplicates:
            log.info("outbox relayed", published=result.published, duplicates=result.duplicates)


@contextmanager
def tuned_gc(young_threshold: int) -> Iterator[None]:
    """Python's cyclic garbage collector, set for a server, for the duration of the block (0: left as it is).

    Why: a worker holds a few hundred thousand objects built at startup that live as long as it does (FastAPI's
    routes and models, pydantic's validators, SQLAlchemy's tables and compiled statements). Each full collection
    walked all of them with the GIL held, every thread stopped: pauses that made the transfers' p99 three to four
    times their median. ``gc.freeze()`` moves them out of every collection's reach. And a transfer allocates
    thousands of container objects, so at Python's young threshold of 700 allocations the collector ran several
    times a request; at 20,000 it runs once every few requests and does the same work in fewer, larger passes.
    Garbage in reference cycles is still collected, a little later; a worker's memory stayed at ~125 MB. Measured
    with ``bench/api.py`` on 2026-11-28, against Python's own settings in the same minutes: p99 86-114 ms against
    177-197, and 1.1-1.3x the transfers a second.
    """
    if not young_threshold:
        yield
        return
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(young_threshold, OLDER_GENERATIONS, OLDER_GENERATIONS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def create_app_from_env() -> FastAPI:
    return app_with_jobs(build_container())


def app_with_jobs(container: Container) -> FastAPI:
    """The app, with the background jobs running for as long as it serves."""
    stop = threading.Event()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        threads = [threading.Thread(target=run_jobs, args=(container, stop), name="pocketbank-jobs", daemon=True)]
        if container.relay is not None:
            threads.append(
                threading.Thread(target=run_relay, args=(container.relay, stop), name="pocketbank-relay", daemon=True)
            )
        for thread in threads:
            thread.start()
        try:
            with tuned_gc(container.settings.gc_young_threshold):
                yield
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=10)
            container.close()

    return create_app(container, lifespan=lifespan)
