"""Sealed TOTP seeds (``customers.totp_key_id``, a wider ``totp_secret``) and staff lockout columns.

Every step first looks at the live table, because a database stamped at the baseline may already be partly (or
wholly) current: ``create_all`` of a later release made its tables with these columns. A table that does not exist
is skipped: ``storage.migrate`` runs ``create_all`` after the upgrade and makes it current. After this revision, an
old database still holds plaintext seeds: ``pocketbank reseal-totp --adopt-plaintext`` seals them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def _columns(table: str) -> dict[str, sa.engine.interfaces.ReflectedColumn] | None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table(table):
        return None
    return {c["name"]: c for c in inspector.get_columns(table)}


def upgrade() -> None:
    customers = _columns("customers")
    if customers is not None:
        with op.batch_alter_table("customers") as batch:
            if "totp_key_id" not in customers:
                batch.add_column(sa.Column("totp_key_id", sa.String(32), nullable=True))
            # A sealed seed (base64 of nonce, ciphertext and tag) outgrows the old column. SQLite does not enforce
            # VARCHAR lengths, so only PostgreSQL needs the change (and a table rebuild on SQLite would be wasted).
            length = getattr(customers["totp_secret"]["type"], "length", None)
            if op.get_bind().dialect.name == "postgresql" and length is not None and length < 255:
                batch.alter_column("totp_secret", type_=sa.String(255), existing_nullable=True)
    staff = _columns("staff_users")
    if staff is not None:
        with op.batch_alter_table("staff_users") as batch:
            # NOT NULL needs a server default to fill the existing rows: 0 = no failed logins, not locked.
            if "failed_logins" not in staff:
                batch.add_column(sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"))
            if "locked_until" not in staff:
                batch.add_column(sa.Column("locked_until", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    # Sealed seeds do not fit the old column and dropping totp_key_id would make them unreadable: forward only.
    raise NotImplementedError("0002 cannot be downgraded: restore a backup taken before the upgrade")
