"""Baseline: the tables as ``create_all`` made them at the 2026-11 release, before TOTP sealing and staff lockout.

A marker with no DDL. A database that has PocketBank tables but no ``alembic_version`` was made by ``create_all``
before migrations existed; ``storage.migrate`` stamps it here and upgrades from here.
"""

from __future__ import annotations

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
