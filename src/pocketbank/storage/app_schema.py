"""Tables shared by every part: audit log, outbox, idempotency keys (on the same MetaData as the ledger)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, PrimaryKeyConstraint, String, Table, Text, text

from pocketbank.storage.schema import metadata

audit_log = Table(
    "audit_log",
    metadata,
    Column("stream", String(80), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("actor_type", String(16), nullable=False),
    Column("actor_id", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("auth_method", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    PrimaryKeyConstraint("stream", "seq"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("occurred_at", BigInteger, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("data", Text, nullable=False),
    Column("dispatched_at", BigInteger, nullable=True),
    Index(
        "ix_outbox_undispatched",
        "occurred_at",
        sqlite_where=text("dispatched_at IS NULL"),
        postgresql_where=text("dispatched_at IS NULL"),
    ),
    # Housekeeping deletes published events oldest first (``SqlOutbox.purge_dispatched``).
    Index(
        "ix_outbox_dispatched",
        "dispatched_at",
        sqlite_where=text("dispatched_at IS NOT NULL"),
        postgresql_where=text("dispatched_at IS NOT NULL"),
    ),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("principal", String(64), nullable=False),
    Column("key", String(255), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # in_progress | done
    Column("status", Integer, nullable=True),
    Column("body", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("lease_until", BigInteger, nullable=False),
    PrimaryKeyConstraint("principal", "key"),
    Index("ix_idempotency_created", "created_at"),
)

# The database's own data key, made only when no POCKETBANK_DATA_KEYS is configured (demos, tests): see
# ``integrations.secretbox``. Kept beside the data, so it protects only against a stray copy of one table.
local_data_keys = Table(
    "local_data_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("key", LargeBinary(32), nullable=False),
)
