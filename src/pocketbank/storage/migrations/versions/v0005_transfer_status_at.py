"""``transfer_records.status_at``: when a transfer's status last changed.

A supervisor's reversal is recorded as ``reversing`` before its chain goes to the ledger; if the request dies
there, the scheduler finishes it once it has been reversing for a while, which it reads from this column. Existing
rows get null ("never changed since it was created"), which is what they mean: no row of an older release is
reversing. As in 0002, a table that does not exist yet is skipped (``create_all`` makes it with the column), and a
column that ``create_all`` of a later release already made is left alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "transfer_records"
COLUMN = "status_at"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table(TABLE):
        return
    if COLUMN in {c["name"] for c in inspector.get_columns(TABLE)}:
        return
    # A nullable column without a default: a catalogue change on both engines, no table rewrite.
    op.add_column(TABLE, sa.Column(COLUMN, sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column(COLUMN)
