"""The audit log in SQL: append under the stream's last row, verify by recomputing every hash."""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import groupby

from sqlalchemy import Connection, Engine, bindparam, func, insert, select

from pocketbank.domain.audit import GENESIS, AuditRecord, StoredAudit, chain_hash, fields, verify_chain
from pocketbank.storage.app_db import read_connection
from pocketbank.storage.app_schema import audit_log as t
from pocketbank.storage.fast_sql import FastStatement

# Every money movement appends at least one record: through the driver (``storage.fast_sql``).
_LOCK_STREAM = FastStatement(select(func.pg_advisory_xact_lock(func.hashtextextended(bindparam("stream"), 0))))
_LAST_OF_STREAM = FastStatement(
    select(t.c.seq, t.c.hash).where(t.c.stream == bindparam("stream")).order_by(t.c.seq.desc()).limit(1)
)
_APPEND = FastStatement(insert(t))


class SqlAuditLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock_rows = engine.dialect.name == "postgresql"

    def append(self, tx: Connection, record: AuditRecord) -> None:
        stream = record.stream
        if self._lock_rows:
            # Appends to one stream queue on a transaction-scoped advisory lock named by the stream. Locking the last
            # row instead is not enough under READ COMMITTED: a waiter would be handed the row it waited for, not
            # the one appended meanwhile, and write the same seq twice. Appending optimistically (insert the next seq
            # unless taken, else read again) starves: eight threads on one stream lost twenty times in a row. Sending
            # the lock and the read together (psycopg's pipeline mode) saved a round trip but cost more CPU than it.
            _LOCK_STREAM.run(tx, {"stream": stream})
        last = _LAST_OF_STREAM.rows(tx, {"stream": stream})  # on SQLite the engine's write lock is held already
        seq, prev = (last[0].seq + 1, last[0].hash) if last else (1, GENESIS)
        columns = fields(record, seq)
        columns["detail"] = json.dumps(record.detail, sort_keys=True, ensure_ascii=False)
        _APPEND.run(tx, {**columns, "prev_hash": prev, "hash": chain_hash(prev, record, seq)})

    def entries(self, stream: str | None = None) -> Iterator[StoredAudit]:
        q = select(t).order_by(t.c.stream, t.c.seq)
        if stream is not None:
            q = q.where(t.c.stream == stream)
        with read_connection(self.engine) as conn:
            for r in conn.execute(q):
                record = AuditRecord(
                    actor_type=r.actor_type,
                    actor_id=r.actor_id,
                    action=r.action,
                    subject=r.subject,
                    channel=r.channel,
                    auth_method=r.auth_method,
                    at=r.at,
                    detail=json.loads(r.detail),
                )
                yield StoredAudit(r.seq, record, r.prev_hash, r.hash)

    def verify(self, stream: str | None = None) -> list[str]:
        problems: list[str] = []
        for _, entries in groupby(self.entries(stream), key=lambda e: e.record.stream):
            problems.extend(verify_chain(entries))
        return problems
