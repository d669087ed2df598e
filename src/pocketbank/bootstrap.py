"""Composition root: the one place that decides which adapters back which ports.

``build_container(settings)`` opens the database named by the URL (ledger store and application tables), picks the
system clock and id generator, and wires the services. Tests build their own containers with a ``ManualClock`` and
a temporary database.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from pocketbank.config import Settings
from pocketbank.domain.clock import Clock
from pocketbank.domain.principals import Principal
from pocketbank.errors import Unauthenticated
from pocketbank.integrations.clock import SystemClock
from pocketbank.integrations.ids import SecureIdGenerator
from pocketbank.observability.logging import configure_logging
from pocketbank.services.ledger import LedgerService
from pocketbank.services.ports import AuditLog, Authenticator, EventBus, IdempotencyStore, IdGenerator, Outbox
from pocketbank.storage.app_db import SqlUnitOfWork, make_engine
from pocketbank.storage.audit import SqlAuditLog
from pocketbank.storage.engine import open_ledger_store
from pocketbank.storage.idempotency import SqlIdempotencyStore
from pocketbank.storage.outbox import SqlOutbox


@dataclass
class Container:
    settings: Settings
    clock: Clock
    ids: IdGenerator
    engine: Engine
    uow: SqlUnitOfWork
    audit: AuditLog
    outbox: Outbox
    idempotency: IdempotencyStore
    bus: EventBus
    ledger: LedgerService
    auth: Authenticator

    def close(self) -> None:
        self.ledger.close()
        self.engine.dispose()


def build_container(
    settings: Settings | None = None, *, clock: Clock | None = None, ids: IdGenerator | None = None
) -> Container:
    settings = settings or Settings()
    configure_logging(settings.log_level, json=settings.log_json)
    clock = clock or SystemClock()
    store = open_ledger_store(settings.database_url)  # also creates every table on first use
    engine = make_engine(settings.database_url)
    return Container(
        settings=settings,
        clock=clock,
        ids=ids or SecureIdGenerator(),
        engine=engine,
        uow=SqlUnitOfWork(engine),
        audit=SqlAuditLog(engine),
        outbox=SqlOutbox(engine),
        idempotency=SqlIdempotencyStore(engine),
        bus=EventBus(),
        ledger=LedgerService(store, clock, group_commit_writers=settings.group_commit_writers),
        auth=NoAuthenticator(),
    )


class NoAuthenticator:
    """Placeholder until the auth service is wired: every token is refused."""

    def authenticate(self, access_token: str, now: int) -> Principal:
        raise Unauthenticated("authentication is not configured")
