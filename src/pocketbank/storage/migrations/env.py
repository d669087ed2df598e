"""Alembic's environment: runs the revisions on the connection ``storage.migrate`` hands over.

There is no URL here on purpose: ``migrate.upgrade_schema`` opens the connection, takes the schema lock and owns
the transaction, so running Alembic any other way (its own CLI) would skip the lock; refuse instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from pocketbank.storage.tables import schema

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run migrations with `pocketbank db upgrade` (pocketbank.storage.migrate), not alembic's CLI")
context.configure(
    connection=connection,
    target_metadata=schema.metadata,  # for `alembic revision --autogenerate` by hand, when writing a revision
    # SQLite has almost no ALTER TABLE: batch mode rebuilds a table where a plain ALTER cannot do the change.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():  # a no-op: the caller's transaction is already open, and it commits
    context.run_migrations()
