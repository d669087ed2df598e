"""Idempotency keys in SQL (Stripe's semantics; see ``services.ports.IdempotencyStore``).

A claim commits before the request runs, so a concurrent retry with the same key finds it and gets 409 instead of
running the request a second time. The lease covers a crashed server: once it runs out, a retry may claim the key
again (safe: the transfer's id is derived from the key, and a retry resubmits its recorded ledger chain).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Engine, bindparam, delete, select, tuple_, update

from pocketbank.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from pocketbank.services.ports import IdempotencyClaim, IdempotentResponse, Reply
from pocketbank.storage import bulk, pg_arrays
from pocketbank.storage.app_db import insert_if_absent, statement_transactions
from pocketbank.storage.app_schema import idempotency_keys as t
from pocketbank.storage.fast_sql import FastStatement

# Every money-moving request completes its key: through the driver (``storage.fast_sql``).
_COMPLETE = FastStatement(
    update(t)
    .where((t.c.principal == bindparam("p")) & (t.c.key == bindparam("k")))
    .values(state="done", status=bindparam("new_status"), body=bindparam("new_body"))
)

_COMPLETE_MANY = (
    "UPDATE idempotency_keys k SET state = 'done', status = v.status, body = v.body "
    "FROM unnest(%s::VARCHAR(64)[], %s::VARCHAR(255)[], %s::INTEGER[], %s::TEXT[]) AS v(principal, key, status, body) "
    "WHERE k.principal = v.principal AND k.key = v.key"
)


def _complete(conn: Connection, reply: Reply) -> None:
    params = {
        "p": reply.principal,
        "k": reply.key,
        "new_status": reply.response.status,
        "new_body": reply.response.body,
    }
    _COMPLETE.run(conn, params)


class SqlIdempotencyStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(self, principal: str, key: str, fingerprint: str, now: int, lease_ns: int) -> IdempotencyClaim:
        # Each statement below is safe alone (an insert-if-absent, a read, a compare-and-set on the lease), so none
        # needs a transaction around it: on PostgreSQL each commits as it runs.
        for _ in range(3):
            with statement_transactions(self.engine) as conn:
                # The common case, a fresh key, is one statement.
                fresh = {
                    "principal": principal,
                    "key": key,
                    "fingerprint": fingerprint,
                    "state": "in_progress",
                    "created_at": now,
                    "lease_until": now + lease_ns,
                }
                if insert_if_absent(conn, t, fresh):
                    return IdempotencyClaim(replay=None)
                where = (t.c.principal == principal) & (t.c.key == key)
                row = conn.execute(select(t).where(where)).first()
                if row is None:
                    continue  # claimed and released again in between: try again
                if row.fingerprint != fingerprint:
                    raise IdempotencyKeyReused(
                        "this Idempotency-Key was already used with a different request", param="Idempotency-Key"
                    )
                if row.state == "done":
                    return IdempotencyClaim(replay=IdempotentResponse(row.status, row.body))
                if row.lease_until > now:
                    raise IdempotencyKeyInUse(
                        "a request with this Idempotency-Key is still in progress", param="Idempotency-Key"
                    )
                taken = conn.execute(
                    update(t).where(where & (t.c.lease_until == row.lease_until)).values(lease_until=now + lease_ns)
                ).rowcount
                if taken == 1:
                    return IdempotencyClaim(replay=None)
        raise IdempotencyKeyInUse("a request with this Idempotency-Key is still in progress", param="Idempotency-Key")

    def complete(self, principal: str, key: str, response: IdempotentResponse, now: int) -> None:
        with statement_transactions(self.engine) as conn:
            _complete(conn, Reply(principal, key, response))

    def complete_many(self, tx: Connection, replies: Sequence[Reply]) -> None:
        if tx.dialect.name != "postgresql" or len(replies) < 2:  # one row: the prepared single-row statement
            for reply in replies:
                _complete(tx, reply)
            return
        columns = [
            pg_arrays.texts([r.principal for r in replies]),
            pg_arrays.texts([r.key for r in replies]),
            pg_arrays.ints([r.response.status for r in replies]),
            pg_arrays.texts([r.response.body for r in replies]),
        ]
        bulk.execute(tx, _COMPLETE_MANY, columns)

    def release(self, principal: str, key: str) -> None:
        with statement_transactions(self.engine) as conn:
            conn.execute(delete(t).where((t.c.principal == principal) & (t.c.key == key) & (t.c.state != "done")))

    def purge(self, older_than: int, limit: int) -> int:
        oldest = select(t.c.principal, t.c.key).where(t.c.created_at < older_than).order_by(t.c.created_at).limit(limit)
        with self.engine.begin() as conn:
            return conn.execute(delete(t).where(tuple_(t.c.principal, t.c.key).in_(oldest))).rowcount
