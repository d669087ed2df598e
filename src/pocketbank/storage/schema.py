"""The ledger's tables, one definition for SQLite and PostgreSQL.

128-bit ids and 64-bit user data are stored as big-endian bytes (BLOB / bytea), so byte order is numeric order:
``ORDER BY id`` locks rows in the same order as Python's ``sorted(ids)``. Counters and amounts are 64-bit signed
integers. On SQLite the main tables are WITHOUT ROWID: rows are clustered on their primary key, so a look-up by id
is one B-tree descent and an insert touches one tree fewer.

The database enforces the invariants it can check row by row, as a second line behind the state machine: amounts
are positive (a closing transfer and its resolution may carry 0, as in TigerBeetle), counters are never negative,
and an account's limit flag holds after every update.

An account's transfers are found differently on each engine. PostgreSQL indexes ``ledger_transfers`` on (debit
account, timestamp) and (credit account, timestamp). On SQLite those two indexes cost more than everything else a
batch wrote: each transfer adds an entry at a random place in each of two large B-trees, so a commit of 1000
transfers wrote some 800 more pages (over 3 MB through the WAL, and again at checkpoint). Instead, SQLite indexes
``ledger_transfers`` on (timestamp, debit account, credit account): timestamps only grow, so each new transfer's entry
is appended at the end of that B-tree. Every ``FOLD_AT`` transfers the writer folds the transfers newer than the
last fold into a new *generation* of ``ledger_postings``: one row per (account, transfer), sorted and appended after
the previous generation, so that no page of the index is ever rewritten. A look-up reads the account's range in each
generation, oldest first, then scans the recent transfers (newer than the last generation) through the timestamp
index, which covers the columns it filters on.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    event,
    text,
)

metadata = MetaData()
sqlite_metadata = MetaData()  # tables only the SQLite store has, created and dropped along with ``metadata``

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
    Index("ix_ledger_transfers_debit", "debit_account_id", "timestamp").ddl_if(dialect="postgresql"),
    Index("ix_ledger_transfers_credit", "credit_account_id", "timestamp").ddl_if(dialect="postgresql"),
    # SQLite's way to the transfers not yet folded into ledger_postings (see the module docstring). The table is
    # WITHOUT ROWID, so each entry also holds the id: the fold and a look-up of recent transfers read only this.
    Index("ix_ledger_transfers_recent", "timestamp", "debit_account_id", "credit_account_id").ddl_if(dialect="sqlite"),
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


# -- SQLite's account look-up index (see the module docstring) -----------------------------------------------------

# One row per (account, transfer), written a generation (one fold) at a time. The generation leads the key, so a
# fold appends at the end of the B-tree, in key order, and never touches a page written before. A transfer is named
# by its timestamp, which is unique in the ledger (the store hands them out, increasing in commit order, and
# ``verify`` checks it) and leads ix_ledger_transfers_recent: naming it by its 16-byte id as well made each row half
# as big again, and a fold that much slower.
ledger_postings = Table(
    "ledger_postings",
    sqlite_metadata,
    Column("generation", Integer, nullable=False),
    Column("account_id", LargeBinary(16), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    PrimaryKeyConstraint("generation", "account_id", "timestamp"),
    sqlite_with_rowid=False,
)

# The timestamps each generation covers. The SQLite store keeps timestamps increasing in commit order across
# processes, so generations cover disjoint, increasing ranges, all older than the recent transfers: reading the
# generations in order and then the recent table returns an account's transfers in timestamp order.
ledger_posting_generations = Table(
    "ledger_posting_generations",
    sqlite_metadata,
    Column("generation", Integer, primary_key=True, autoincrement=False),
    Column("first_timestamp", BigInteger, nullable=False),
    Column("last_timestamp", BigInteger, nullable=False),
)

# The newest timestamp folded into ledger_postings (0 before the first fold): the transfers after it are the recent
# ones, read through ix_ledger_transfers_recent. SQL, for the SQLite store and ``verify`` to embed as a subquery.
FOLDED_UNTIL = "SELECT coalesce(max(last_timestamp), 0) FROM ledger_posting_generations"


@event.listens_for(metadata, "after_create")
def _create_sqlite_tables(target: MetaData, connection: Connection, **kw: Any) -> None:
    if connection.dialect.name == "sqlite":
        sqlite_metadata.create_all(connection)


@event.listens_for(metadata, "before_drop")
def _drop_sqlite_tables(target: MetaData, connection: Connection, **kw: Any) -> None:
    if connection.dialect.name == "sqlite":
        sqlite_metadata.drop_all(connection)
