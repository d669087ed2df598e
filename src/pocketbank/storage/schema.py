"""The ledger's tables, one definition for SQLite and PostgreSQL.

128-bit ids and 64-bit user data are stored as big-endian bytes (BLOB / bytea), so byte order is numeric order:
``ORDER BY id`` locks rows in the same order as Python's ``sorted(ids)``. Counters and amounts are 64-bit signed
integers. On SQLite every table is WITHOUT ROWID: rows are clustered on their primary key, so a look-up by id is
one B-tree descent and an insert touches one tree fewer.

The database enforces the invariants it can check row by row, as a second line behind the state machine: amounts
are positive (a closing transfer and its resolution may carry 0, as in TigerBeetle), counters are never negative,
and an account's limit flag holds after every update.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    text,
)

metadata = MetaData()

ledger_accounts = Table(
    "ledger_accounts",
    metadata,
    Column("id", LargeBinary(16), primary_key=True),
    Column("ledger", BigInteger, nullable=False),
    Column("code", Integer, nullable=False),
    Column("flags", Integer, nullable=False),
    Column("user_data_128", LargeBinary(16), nullable=False),
    Column("user_data_64", LargeBinary(8), nullable=False),
    Column("user_data_32", BigInteger, nullable=False),
    Column("debits_pending", BigInteger, nullable=False),
    Column("debits_posted", BigInteger, nullable=False),
    Column("credits_pending", BigInteger, nullable=False),
    Column("credits_posted", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    CheckConstraint(
        "debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0 AND credits_posted >= 0",
        name="ck_account_counters_non_negative",
    ),
    CheckConstraint(
        "(flags & 2) = 0 OR debits_pending + debits_posted <= credits_posted",
        name="ck_account_debits_must_not_exceed_credits",
    ),
    CheckConstraint(
        "(flags & 4) = 0 OR credits_pending + credits_posted <= debits_posted",
        name="ck_account_credits_must_not_exceed_debits",
    ),
    # Counter updates change no indexed column; free space on each page lets PostgreSQL update in place (HOT).
    postgresql_with={"fillfactor": 70},
    sqlite_with_rowid=False,
)

ledger_transfers = Table(
    "ledger_transfers",
    metadata,
    Column("id", LargeBinary(16), primary_key=True),
    # No foreign keys here: both accounts are locked and checked by the state machine before a row is written,
    # and a per-row FK check cost PostgreSQL ~40 ms per 1000 transfers. verify() checks the references instead.
    Column("debit_account_id", LargeBinary(16), nullable=False),
    Column("credit_account_id", LargeBinary(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("pending_id", LargeBinary(16), nullable=True),
    Column("ledger", BigInteger, nullable=False),
    Column("code", Integer, nullable=False),
    Column("flags", Integer, nullable=False),
    Column("timeout", BigInteger, nullable=False),
    Column("user_data_128", LargeBinary(16), nullable=False),
    Column("user_data_64", LargeBinary(8), nullable=False),
    Column("user_data_32", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    # 192 = closing_debit | closing_credit; 12 = post | void (of a zero-amount closing transfer).
    CheckConstraint("amount > 0 OR (amount = 0 AND (flags & 204) <> 0)", name="ck_transfer_amount_positive"),
    CheckConstraint("debit_account_id <> credit_account_id", name="ck_transfer_accounts_differ"),
    Index("ix_ledger_transfers_debit", "debit_account_id", "timestamp"),
    Index("ix_ledger_transfers_credit", "credit_account_id", "timestamp"),
    sqlite_with_rowid=False,
)

ledger_pending = Table(
    "ledger_pending",
    metadata,
    Column("id", LargeBinary(16), ForeignKey("ledger_transfers.id"), primary_key=True),
    Column("status", SmallInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    CheckConstraint("status IN (1, 2, 3, 4)", name="ck_pending_status"),
    Index(
        "ix_ledger_pending_due",
        "expires_at",
        sqlite_where=text("status = 1 AND expires_at > 0"),
        postgresql_where=text("status = 1 AND expires_at > 0"),
    ),
    sqlite_with_rowid=False,
)

ledger_failed = Table(
    "ledger_failed",
    metadata,
    Column("id", LargeBinary(16), primary_key=True),
    Column("result", String(64), nullable=False),
    sqlite_with_rowid=False,
)

ledger_account_history = Table(
    "ledger_account_history",
    metadata,
    Column("account_id", LargeBinary(16), ForeignKey("ledger_accounts.id"), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("transfer_id", LargeBinary(16), nullable=False),
    Column("debits_pending", BigInteger, nullable=False),
    Column("debits_posted", BigInteger, nullable=False),
    Column("credits_pending", BigInteger, nullable=False),
    Column("credits_posted", BigInteger, nullable=False),
    PrimaryKeyConstraint("account_id", "timestamp", "transfer_id"),
    sqlite_with_rowid=False,
)
