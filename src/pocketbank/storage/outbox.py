"""The outbox in SQL: events written with the change they describe, dispatched after the commit.

``claim(limit)`` is the relay's read (``services.outbox_relay``): the oldest undispatched events, for one relay at a
time where the engine allows it. On PostgreSQL the claim holds a transaction-scoped advisory lock for as long as the
relay publishes the batch; a second worker's claim finds the lock taken and skips its pass, so the workers of a
deployment never interleave their batches in the stream (which ``SELECT ... FOR UPDATE SKIP LOCKED`` would do: two
workers would publish two disjoint batches at once, out of order). The lock's second key is the schema, so banks in
different schemas of one database (the test suite's) never wait for each other. On SQLite the claim is a plain read:
an embedded database is normally served by one process, and where two processes relay the same batch the broker
drops the second copy by event id (``Nats-Msg-Id``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, delete, insert, select, text, update

from pocketbank.domain.events import DomainEvent
from pocketbank.storage import bulk
from pocketbank.storage.app_db import read_connection
from pocketbank.storage.app_schema import outbox as t
from pocketbank.storage.fast_sql import FastStatement

# First key of the relay's advisory lock: an arbitrary constant that no other lock in the bank uses.
RELAY_LOCK_CLASS = 0x0B0C5E1A
# A relay frozen mid-batch (a stopped process) must not hold the lock for ever: PostgreSQL ends the session after this
# long idle in the claim's transaction. A healthy pass is idle there only while it publishes (seconds at most).
RELAY_IDLE_TIMEOUT = "60s"

# Every money movement adds an event: through the driver (``storage.fast_sql``).
_ADD = FastStatement(insert(t))
_COLUMNS = ("id", "type", "occurred_at", "channel", "data")  # dispatched_at: null until the relay publishes it
_ADD_MANY = bulk.insert_sql(t, _COLUMNS)


def _row(event: DomainEvent) -> dict[str, object]:
    return {
        "id": event.id,
        "type": event.type,
        "occurred_at": event.occurred_at,
        "channel": event.channel,
        "data": json.dumps(event.data, sort_keys=True, ensure_ascii=False),
    }


class SqlOutbox:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, tx: Connection, event: DomainEvent) -> None:
        _ADD.run(tx, _row(event))

    def add_many(self, tx: Connection, events: Sequence[DomainEvent]) -> None:
        """``add`` each event, in one statement on PostgreSQL."""
        if tx.dialect.name != "postgresql" or len(events) < 2:  # one row: the prepared single-row statement
            for event in events:
                self.add(tx, event)
        else:
            bulk.execute(tx, _ADD_MANY, bulk.arrays(t, _COLUMNS, [_row(e) for e in events]))

    def undispatched(self, limit: int = 1000) -> list[DomainEvent]:
        with read_connection(self.engine) as conn:
            return _oldest(conn, limit)

    def mark_dispatched(self, ids: Sequence[str], at: int) -> None:
        if not ids:
            return
        with self.engine.begin() as conn:
            conn.execute(update(t).where(t.c.id.in_(list(ids))).values(dispatched_at=at))

    def purge_dispatched(self, older_than: int, limit: int) -> int:
        """Delete up to ``limit`` events dispatched before ``older_than``, oldest first, in one short transaction.

        An event the relay has not published is never deleted, however old: it is the only copy there is.
        """
        oldest = (
            select(t.c.id)
            .where(t.c.dispatched_at.is_not(None) & (t.c.dispatched_at < older_than))
            .order_by(t.c.dispatched_at)
            .limit(limit)
        )
        with self.engine.begin() as conn:
            return conn.execute(delete(t).where(t.c.id.in_(oldest))).rowcount

    @contextmanager
    def claim(self, limit: int) -> Iterator[list[DomainEvent] | None]:
        """The oldest ``limit`` undispatched events, or None while another relay holds the claim (PostgreSQL).

        Mark what was published with ``mark_dispatched`` inside the block: on PostgreSQL that commits before the
        lock is released, so the next relay never sees those events again.
        """
        if self.engine.dialect.name != "postgresql":
            with read_connection(self.engine) as raw:
                conn = raw.execution_options(pocketbank_readonly=True)  # no write lock on SQLite while publishing
                events = _oldest(conn, limit)
                conn.rollback()
            yield events
            return
        with self.engine.begin() as conn:
            conn.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = '{RELAY_IDLE_TIMEOUT}'"))
            locked = conn.execute(
                text("SELECT pg_try_advisory_xact_lock(:cls, hashtext(current_schema()))"), {"cls": RELAY_LOCK_CLASS}
            ).scalar_one()
            # READ COMMITTED: this statement's snapshot already sees the marks of the relay that held the lock before.
            yield _oldest(conn, limit) if locked else None


def _oldest(conn: Connection, limit: int) -> list[DomainEvent]:
    q = select(t).where(t.c.dispatched_at.is_(None)).order_by(t.c.occurred_at, t.c.id).limit(limit)
    return [
        DomainEvent(id=r.id, type=r.type, occurred_at=r.occurred_at, channel=r.channel, data=json.loads(r.data))
        for r in conn.execute(q)
    ]
