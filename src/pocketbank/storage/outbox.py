"""The outbox in SQL: events written with the change they describe, dispatched after the commit."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import Connection, Engine, insert, select, update

from pocketbank.domain.events import DomainEvent
from pocketbank.storage.app_schema import outbox as t


class SqlOutbox:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, tx: Connection, event: DomainEvent) -> None:
        tx.execute(
            insert(t).values(
                id=event.id,
                type=event.type,
                occurred_at=event.occurred_at,
                channel=event.channel,
                data=json.dumps(event.data, sort_keys=True, ensure_ascii=False),
            )
        )

    def undispatched(self, limit: int = 1000) -> list[DomainEvent]:
        q = select(t).where(t.c.dispatched_at.is_(None)).order_by(t.c.occurred_at, t.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [
                DomainEvent(id=r.id, type=r.type, occurred_at=r.occurred_at, channel=r.channel, data=json.loads(r.data))
                for r in conn.execute(q)
            ]

    def mark_dispatched(self, ids: Sequence[str], at: int) -> None:
        if not ids:
            return
        with self.engine.begin() as conn:
            conn.execute(update(t).where(t.c.id.in_(list(ids))).values(dispatched_at=at))
