"""SQLite: transfers are found by timestamp. An index replaces the recent table, and postings drop the transfer id.

Before, a trigger copied every new transfer into ``ledger_transfers_recent`` and each fold emptied that table. The
trigger cost a third of a batch's insert time; an index on (timestamp, debit account, credit account) gives the fold
and the look-ups the same rows, appended natively at the end of a B-tree. The recent table held exactly the
transfers newer than the last generation, which is what the index now selects, so it is dropped with its trigger.

``ledger_postings`` then names each transfer by its timestamp (unique in the ledger), found through that index,
instead of also by its 16-byte id: the table is rebuilt without the id column, in key order.

PostgreSQL has none of these and is left alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

INDEX = "ix_ledger_transfers_recent"

_POSTINGS = (
    "CREATE TABLE {name} (generation INTEGER NOT NULL, account_id BLOB NOT NULL, timestamp BIGINT NOT NULL, "
    "{extra}PRIMARY KEY (generation, account_id, timestamp{extra_key})) WITHOUT ROWID"
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    inspector = sa.inspect(bind)
    if not inspector.has_table("ledger_transfers"):
        return
    if INDEX not in {ix["name"] for ix in inspector.get_indexes("ledger_transfers")}:
        op.create_index(INDEX, "ledger_transfers", ["timestamp", "debit_account_id", "credit_account_id"])
    op.execute("DROP TRIGGER IF EXISTS ledger_transfers_recent_insert")
    op.execute("DROP TABLE IF EXISTS ledger_transfers_recent")
    if inspector.has_table("ledger_postings") and "transfer_id" in {
        c["name"] for c in inspector.get_columns("ledger_postings")
    }:
        op.execute(_POSTINGS.format(name="ledger_postings_by_timestamp", extra="", extra_key=""))
        op.execute(
            "INSERT INTO ledger_postings_by_timestamp SELECT generation, account_id, timestamp FROM ledger_postings "
            "ORDER BY generation, account_id, timestamp"
        )
        op.execute("DROP TABLE ledger_postings")
        op.execute("ALTER TABLE ledger_postings_by_timestamp RENAME TO ledger_postings")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    op.execute(
        _POSTINGS.format(
            name="ledger_postings_with_ids", extra="transfer_id BLOB NOT NULL, ", extra_key=", transfer_id"
        )
    )
    op.execute(
        "INSERT INTO ledger_postings_with_ids SELECT p.generation, p.account_id, p.timestamp, t.id "
        "FROM ledger_postings p JOIN ledger_transfers t ON t.timestamp = p.timestamp"
    )
    op.execute("DROP TABLE ledger_postings")
    op.execute("ALTER TABLE ledger_postings_with_ids RENAME TO ledger_postings")
    op.execute(
        "CREATE TABLE ledger_transfers_recent (transfer_id BLOB NOT NULL, debit_account_id BLOB NOT NULL, "
        "credit_account_id BLOB NOT NULL, timestamp BIGINT NOT NULL)"
    )
    op.execute(
        "INSERT INTO ledger_transfers_recent SELECT id, debit_account_id, credit_account_id, timestamp "
        "FROM ledger_transfers WHERE timestamp > "
        "(SELECT coalesce(max(last_timestamp), 0) FROM ledger_posting_generations)"
    )
    op.execute(
        "CREATE TRIGGER ledger_transfers_recent_insert AFTER INSERT ON ledger_transfers BEGIN "
        "INSERT INTO ledger_transfers_recent (transfer_id, debit_account_id, credit_account_id, timestamp) "
        "VALUES (new.id, new.debit_account_id, new.credit_account_id, new.timestamp); END"
    )
    op.drop_index(INDEX, table_name="ledger_transfers")
