"""The ASGI entry point for ``pocketbank serve`` (``uvicorn --factory pocketbank.api.main:create_app_from_env``).

Each uvicorn worker process builds its own container from the environment, and runs the bank's background jobs
(the scheduler that posts delayed transfers, the ledger's pending-transfer sweeper) in a daemon thread. Running them
in every worker is safe: posting and expiring are exactly-once in the ledger, whoever gets there first.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from pocketbank.api.app import create_app
from pocketbank.bootstrap import Container, build_container

log = structlog.get_logger("pocketbank.jobs")

JOB_INTERVAL_SECONDS = 5.0


def run_jobs(container: Container, stop: threading.Event) -> None:
    while not stop.wait(JOB_INTERVAL_SECONDS):
        try:
            posted = container.transfers.post_due()
            expired = container.ledger.expire_pending()
            if posted or expired:
                log.info("jobs", transfers_posted=posted, pending_expired=expired)
        except Exception:  # a failed pass is retried on the next tick; the jobs must not die
            log.exception("background job failed")


def create_app_from_env() -> FastAPI:
    return app_with_jobs(build_container())


def app_with_jobs(container: Container) -> FastAPI:
    """The app, with the background jobs running for as long as it serves."""
    stop = threading.Event()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        worker = threading.Thread(target=run_jobs, args=(container, stop), name="pocketbank-jobs", daemon=True)
        worker.start()
        try:
            yield
        finally:
            stop.set()
            worker.join(timeout=10)
            container.close()

    return create_app(container, lifespan=lifespan)
