"""An index on ``outbox.dispatched_at`` (published events only), for housekeeping's purge, oldest first.

As in 0002, a table that does not exist yet is skipped (``create_all`` makes it with the index), and an index that
``create_all`` of a later release already made is left alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

INDEX = "ix_outbox_dispatched"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("outbox"):
        return
    if INDEX in {ix["name"] for ix in inspector.get_indexes("outbox")}:
        return
    where = sa.text("dispatched_at IS NOT NULL")
    op.create_index(INDEX, "outbox", ["dispatched_at"], sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="outbox")
