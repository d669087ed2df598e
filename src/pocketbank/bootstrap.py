"""Composition root: the one place that decides which adapters back which ports.

``build_container(settings)`` opens the ledger store named by the database URL, picks the system clock and wires
the services. Tests build their own containers with a ``ManualClock`` and a temporary database.
"""

from __future__ import annotations

from dataclasses import dataclass

from pocketbank.config import Settings
from pocketbank.domain.clock import Clock
from pocketbank.integrations.clock import SystemClock
from pocketbank.observability.logging import configure_logging
from pocketbank.services.ledger import LedgerService
from pocketbank.storage.engine import open_ledger_store


@dataclass
class Container:
    settings: Settings
    clock: Clock
    ledger: LedgerService

    def close(self) -> None:
        self.ledger.close()


def build_container(settings: Settings | None = None, *, clock: Clock | None = None) -> Container:
    settings = settings or Settings()
    configure_logging(settings.log_level, json=settings.log_json)
    clock = clock or SystemClock()
    store = open_ledger_store(settings.database_url)
    ledger = LedgerService(store, clock, group_commit_writers=settings.group_commit_writers)
    return Container(settings=settings, clock=clock, ledger=ledger)
