"""Bring a database's schema to the current release: Alembic revisions (``storage/migrations``) plus ``create_all``.

``upgrade_schema(url)`` decides from what the database holds:

* no PocketBank table and no ``alembic_version``: a fresh database. ``create_all`` makes every table as it is
  now, and the database is stamped at head (replaying history on an empty database would only be slower).
* PocketBank tables but no ``alembic_version``: made by ``create_all`` before migrations existed. Stamped at the
  baseline ``0001``, then upgraded to head.
* ``alembic_version`` present: upgraded to head (nothing is loaded when it is already there).

After an upgrade, ``create_all`` adds the tables the database never had (e.g. a ledger-only database gets the
application tables), as it always has; revisions therefore skip a table that does not exist yet.

Several workers may start at once, so all of it is one transaction under a lock: on PostgreSQL a transaction-level
advisory lock (DDL is transactional there, so a worker that waited sees the finished schema and does nothing); on
SQLite ``BEGIN IMMEDIATE``, which holds the write lock from the first statement, so a
second worker waits (busy timeout) and then finds the schema current. Without the lock two workers could both find
a fresh database and both create tables and stamp it (two ``alembic_version`` rows).

A new revision, from a source checkout: ``pocketbank db revision "what it changes"`` (``new_revision``) writes
``versions/v<next number>_<slug>.py`` from ``script.py.mako``, on top of the head. There is no alembic.ini: the
configuration is built here, so the ``alembic`` command itself is not used.
"""

from __future__ import annotations

import sqlite3
import time
from functools import cache
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

from pocketbank.storage.engine import sqlalchemy_url
from pocketbank.storage.tables import schema

BASELINE = "0001"
# Any constant every PocketBank process agrees on ("pkbank" in ASCII); advisory locks are per database.
_PG_LOCK_KEY = 0x706B62616E6B


def _config(connection: Connection | None) -> Config:
    config = Config()  # no alembic.ini: the migrations ship inside the package
    config.set_main_option("script_location", "pocketbank.storage:migrations")
    config.attributes["connection"] = connection  # env.py runs on this connection, inside our transaction
    return config


@cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(_config(None)).get_current_head()
    if head is None:
        raise RuntimeError("no Alembic revisions found in pocketbank.storage.migrations")
    return head


def new_revision(message: str, directory: str | None = None) -> str:
    """Write an empty revision after the head (number = head + 1); returns its path. ``directory``: where to write it
    (default: the package's ``versions/``, which only a source checkout should write to)."""
    config = _config(None)
    config.set_main_option("file_template", "v%%(rev)s_%%(slug)s")  # v0003_outbox_dispatched_index.py
    if directory is not None:
        config.set_main_option("path_separator", "newline")  # the package location itself contains a colon
        config.set_main_option("version_locations", f"pocketbank.storage.migrations:versions\n{directory}")
    rev_id = f"{int(head_revision()) + 1:04d}"
    script = command.revision(config, message, rev_id=rev_id, version_path=directory)
    if script is None or isinstance(script, list):
        raise RuntimeError("alembic wrote no single revision")
    head_revision.cache_clear()
    return str(script.path)


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade_schema(url: str) -> None:
    """Create or upgrade the schema of the database at ``url`` (any URL ``engine.sqlalchemy_url`` accepts)."""
    engine = _engine(sqlalchemy_url(url))
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            _upgrade_locked(connection)
    finally:
        engine.dispose()


def _engine(url: str) -> Engine:
    if make_url(url).get_backend_name() != "sqlite":
        return create_engine(url)
    engine = create_engine(url, connect_args={"timeout": 60})  # the busy timeout BEGIN IMMEDIATE waits for

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # no implicit transactions: we issue BEGIN IMMEDIATE ourselves
        _enable_wal(dbapi_conn)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _enable_wal(dbapi_conn: sqlite3.Connection, timeout: float = 60.0) -> None:
    """Switch a new database file to WAL before anything else, retrying while another worker holds a lock.

    Leaving rollback-journal mode fails at once with "database is locked" (no busy wait) while another connection
    writes, which is what a second worker starting on a fresh file meets. Once the file is in WAL mode, the
    stores' own ``PRAGMA journal_mode=WAL`` is a no-op that needs no lock, so doing it here, first, closes that race.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _upgrade_locked(connection: Connection) -> None:
    metadata = schema.metadata
    config = _config(connection)
    current = current_revision(connection)
    if current is None:
        if not set(inspect(connection).get_table_names()) & set(metadata.tables):
            metadata.create_all(connection)
            command.stamp(config, "head")
            return
        command.stamp(config, BASELINE)
        current = BASELINE
    if current != head_revision():
        command.upgrade(config, "head")
    metadata.create_all(connection)
