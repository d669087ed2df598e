"""Open the ledger store named by a database URL, creating its schema if needed.

``sqlite:///pocketbank.db`` (the embedded default) or ``postgresql://user@host/db`` (also spelt
``postgresql+psycopg://``). The schema comes from ``schema.py`` through SQLAlchemy, so both engines get the same
tables and constraints; ``migrate`` upgrades a database made by an earlier release.
"""

from __future__ import annotations

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from pocketbank.storage.ledger_store import LedgerStoreBase
from pocketbank.storage.tables import schema

metadata = schema.metadata


def sqlalchemy_url(url: str) -> str:
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def create_schema(url: str) -> None:
    """Create a fresh database's tables, or migrate an existing one to this release (see ``migrate``)."""
    from pocketbank.storage.migrate import upgrade_schema  # migrate imports this module

    upgrade_schema(url)


def drop_schema(url: str) -> None:
    """Drop every ledger table (tests and benchmarks start from an empty database)."""
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.begin() as connection:
            metadata.drop_all(connection)
            # Alembic's table too, so the next create_schema sees a fresh database (create_all, then stamp).
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    finally:
        engine.dispose()


def open_ledger_store(url: str, *, create: bool = True, pool_size: int | None = None) -> LedgerStoreBase:
    """The store for ``url``; ``pool_size``: PostgreSQL connections it may hold (default ``POOL_SIZE``)."""
    parsed = make_url(sqlalchemy_url(url))
    if create:
        create_schema(url)
    if parsed.get_backend_name() == "sqlite":
        from pocketbank.storage.ledger_sqlite import SqliteLedgerStore

        if not parsed.database or parsed.database == ":memory:":
            raise ValueError("the ledger needs a SQLite file, not an in-memory database")
        return SqliteLedgerStore(parsed.database)
    if parsed.get_backend_name() == "postgresql":
        from pocketbank.storage.ledger_postgres import PostgresLedgerStore

        return PostgresLedgerStore(url) if pool_size is None else PostgresLedgerStore(url, pool_size)
    raise ValueError(f"unsupported database URL: {parsed.get_backend_name()}")
