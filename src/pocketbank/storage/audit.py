"""The audit log in SQL: append under the stream's last row, verify by recomputing every hash.

Appending needs the stream's last ``(seq, hash)``. Reading it under a lock took three statements (lock, read,
insert) for every audited operation, two of them on every transfer. The log now remembers the head of each stream it
appended to, and the common append is one statement that inserts only if that head is still the last committed row
(``WHERE EXISTS`` the row, ``ON CONFLICT DO NOTHING`` on the next seq). The cache is never trusted for correctness:
when it is stale (another worker appended, or the transaction that wrote the cached head rolled back) the insert
does nothing, and the append falls back to the locked read. A chain therefore never has a gap or a fork, whatever
the cache says.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import suppress
from itertools import groupby
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, exists, func, select, true
from sqlalchemy.dialects import postgresql, sqlite

from pocketbank.domain.audit import GENESIS, AuditRecord, StoredAudit, chain_hash, fields, verify_chain
from pocketbank.storage import bulk
from pocketbank.storage.app_db import read_connection
from pocketbank.storage.app_schema import audit_log as t
from pocketbank.storage.fast_sql import FastStatement

# Every money movement appends at least one record: through the driver (``storage.fast_sql``).
_LOCK_STREAM = FastStatement(select(func.pg_advisory_xact_lock(func.hashtextextended(bindparam("stream"), 0))))
_LAST_OF_STREAM = FastStatement(
    select(t.c.seq, t.c.hash).where(t.c.stream == bindparam("stream")).order_by(t.c.seq.desc()).limit(1)
)
_COLUMNS = [c.key for c in t.columns]


def _append_statement(dialect: str, *, after_head: bool) -> FastStatement:
    """Insert one record unless its seq is taken; with ``after_head``, also only if ``prev_seq``/``prev_hash`` is
    the stream's row (so a stale cached head inserts nothing). RETURNING tells whether the row went in."""
    values = select(*[bindparam(c.key, type_=c.type) for c in t.columns])
    if after_head:
        head = (t.c.stream == bindparam("stream")) & (t.c.seq == bindparam("prev_seq"))
        values = values.where(exists().where(head & (t.c.hash == bindparam("prev_hash"))))
    else:
        values = values.where(true())  # SQLite parses ``INSERT … SELECT … ON CONFLICT`` only after a WHERE
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(t)
    return FastStatement(insert.from_select(_COLUMNS, values).on_conflict_do_nothing().returning(t.c.seq))


# ``append``'s first try for many records of distinct streams: each goes in only if the head it was chained to (the
# row before its seq, with its prev_hash) is there, and its own seq is free.
_APPEND_MANY = (
    f"INSERT INTO audit_log ({', '.join(_COLUMNS)}) SELECT v.* FROM {bulk.unnest(t, _COLUMNS)} "  # noqa: S608
    "WHERE EXISTS (SELECT 1 FROM audit_log h WHERE h.stream = v.stream AND h.seq = v.seq - 1 "
    "AND h.hash = v.prev_hash) ON CONFLICT DO NOTHING RETURNING stream"
)
_APPEND = {d: _append_statement(d, after_head=False) for d in ("postgresql", "sqlite")}
_APPEND_AFTER_HEAD = {d: _append_statement(d, after_head=True) for d in ("postgresql", "sqlite")}
HEADS_REMEMBERED = 20_000  # streams whose head a process keeps (~250 bytes each, ~5 MB); least recent goes first


def _detail(record: AuditRecord) -> str:
    return json.dumps(record.detail, sort_keys=True, ensure_ascii=False)


def _row(record: AuditRecord, detail: str, seq: int, prev: str) -> dict[str, Any]:
    """The record's row as the ``seq``-th of its stream, after the record whose hash is ``prev``."""
    return {**fields(record, seq), "detail": detail, "prev_hash": prev, "hash": chain_hash(prev, record, seq)}


class SqlAuditLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock_rows = engine.dialect.name == "postgresql"
        self._heads: dict[str, tuple[int, str]] = {}  # stream -> (seq, hash) of the last record this log appended

    def append(self, tx: Connection, record: AuditRecord) -> None:
        stream = record.stream
        dialect = tx.dialect.name
        detail = _detail(record)
        head = self._heads.get(stream)
        if head is not None:
            params = _row(record, detail, head[0] + 1, head[1])
            if _APPEND_AFTER_HEAD[dialect].first(tx, {**params, "prev_seq": head[0]}) is not None:
                self._remember(stream, params["seq"], params["hash"])
                return
        if self._lock_rows:
            # Appends that miss the cache queue on a transaction-scoped advisory lock named by the stream. Locking
            # the last row instead is not enough under READ COMMITTED: a waiter would be handed the row it waited
            # for, not the one appended meanwhile. An append that hits the cache takes no lock, so the insert below
            # still checks that its seq is free, and reads again if one of those took it first.
            _LOCK_STREAM.run(tx, {"stream": stream})
        while True:
            last = _LAST_OF_STREAM.rows(tx, {"stream": stream})  # on SQLite the engine's write lock is held already
            params = _row(record, detail, *((last[0].seq + 1, last[0].hash) if last else (1, GENESIS)))
            if _APPEND[dialect].first(tx, params) is not None:
                self._remember(stream, params["seq"], params["hash"])
                return

    def append_many(self, tx: Connection, records: Sequence[AuditRecord]) -> None:
        """``append`` each record, in order within its stream.

        On PostgreSQL the records whose stream has a remembered head, and no other record among these, go in one
        statement, each inserted only if that head is still its stream's row (as ``append``'s first try); the
        others, and any whose head proved stale, are appended one by one.
        """
        if tx.dialect.name != "postgresql" or len(records) < 2:
            for record in records:
                self.append(tx, record)
            return
        per_stream = Counter(r.stream for r in records)
        rows = {}
        for record in records:
            head = self._heads.get(record.stream)
            if head is not None and per_stream[record.stream] == 1:
                rows[record.stream] = _row(record, _detail(record), head[0] + 1, head[1])
        inserted = set()
        if len(rows) > 1:
            values = list(rows.values())
            inserted = {stream for (stream,) in bulk.execute(tx, _APPEND_MANY, bulk.arrays(t, _COLUMNS, values))}
        for stream in inserted:
            self._remember(stream, rows[stream]["seq"], rows[stream]["hash"])
        for record in records:
            if record.stream in inserted:
                continue
            if record.stream in rows:
                self._heads.pop(record.stream, None)  # stale: straight to the locked read, not a second try
            self.append(tx, record)

    def _remember(self, stream: str, seq: int, digest: str) -> None:
        """Keep the head this transaction wrote. If it rolls back, the next append finds the cache stale (above)."""
        heads = self._heads
        heads.pop(stream, None)  # re-inserted at the end: the dict's order is least recently appended first
        if len(heads) >= HEADS_REMEMBERED:
            with suppress(StopIteration, KeyError, RuntimeError):  # another thread got there first: no matter
                del heads[next(iter(heads))]
        heads[stream] = (seq, digest)

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
