"""One open deposit account per customer and currency: a partial unique index.

The rule was only checked before the insert, so two requests opening a USD account at the same moment could both
pass the check and both insert. The index makes the second insert find the first (``storage.money`` inserts with
``ON CONFLICT DO NOTHING`` and the service answers ``conflict``).

A database that already holds two open accounts of one currency for a customer cannot take the index: the upgrade
stops with their ids rather than choose which to close, since either may hold money. Close one (move its balance
out first) and start again. As in 0002, a table that does not exist yet is skipped, and an index that
``create_all`` of a later release already made is left alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "deposit_accounts"
INDEX = "ux_deposit_accounts_open_currency"


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if not inspector.has_table(TABLE):
        return
    if INDEX in {ix["name"] for ix in inspector.get_indexes(TABLE)}:
        return
    twice = bind.execute(
        sa.text(
            "SELECT customer_id, currency FROM deposit_accounts WHERE status = 'open' "
            "GROUP BY customer_id, currency HAVING count(*) > 1"
        )
    ).all()
    if twice:
        pairs = ", ".join(f"{bytes(r[0]).hex()}/{r[1]}" for r in twice)
        raise RuntimeError(f"customers with two open accounts of one currency (customer id/currency): {pairs}")
    where = sa.text("status = 'open'")
    op.create_index(INDEX, TABLE, ["customer_id", "currency"], unique=True, sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_index(INDEX, table_name=TABLE)
