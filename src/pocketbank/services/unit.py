"""What every writing use case needs, in one bundle: its unit of work, the audit log, the outbox and the in-process
bus, the clock and the id generator (``bootstrap`` builds it once).

A use case writes its rows, an audit record and its events (``event``) in one ``uow.begin()`` block, and publishes
the events on ``bus`` only after that block has committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pocketbank.domain.clock import Clock
from pocketbank.domain.events import DomainEvent
from pocketbank.domain.ids import IdKind, format_id
from pocketbank.services.ports import AuditLog, EventBus, IdGenerator, Outbox, UnitOfWork


@dataclass
class UnitDeps:
    uow: UnitOfWork
    audit: AuditLog
    outbox: Outbox
    bus: EventBus
    clock: Clock
    ids: IdGenerator

    def now(self) -> int:
        return self.clock.now_ns()

    def event(self, type_: str, channel: str, at: int, **data: Any) -> DomainEvent:
        """A domain event with a fresh ``evt_`` id, for the outbox of the unit of work in progress."""
        return DomainEvent(format_id(IdKind.EVENT, self.ids.new()), type_, at, channel, data)
