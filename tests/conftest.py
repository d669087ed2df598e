"""Shared fixtures: a ledger store on every engine this machine has.

SQLite always runs. PostgreSQL runs when ``POCKETBANK_TEST_PG_URL`` is set (``.ci/run`` sets it); each test gets
its own schema, so test runs and tests never see each other's rows. With ``POCKETBANK_REQUIRE_SERVICES=1`` a
missing service fails the test instead of skipping it, so CI can never pass by skipping.

NATS JetStream (``nats_stream``) is ``POCKETBANK_TEST_NATS_URL``, by default the local server at 127.0.0.1:4222; each
test gets a stream of its own (``nats_helpers``), deleted afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import Engine

from nats_helpers import JsStream, nats_problem, nats_test_url
from pbtest import missing_service, pg_admin_url
from pocketbank.domain.clock import ManualClock
from pocketbank.services.ledger import LedgerService
from pocketbank.storage.app_db import make_engine
from pocketbank.storage.engine import create_schema, open_ledger_store
from pocketbank.storage.ledger_store import LedgerStoreBase

ENGINES = ["sqlite", "postgres"]


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    admin = pg_admin_url()
    if admin is None:
        missing_service("PostgreSQL not configured: set POCKETBANK_TEST_PG_URL")
    assert admin is not None
    import psycopg

    schema = f"pbtest_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    except psycopg.OperationalError as exc:
        missing_service(f"PostgreSQL unreachable: {exc}")
    sep = "&" if "?" in admin else "?"
    yield f"{admin}{sep}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=ENGINES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for each engine: a fresh SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def nats_stream() -> Iterator[JsStream]:
    """A JetStream stream name and subject prefix of this test's own, on the test NATS server."""
    url = nats_test_url()
    problem = nats_problem(url)
    if problem is not None:
        missing_service(f"NATS JetStream unreachable at {url} ({problem}): set POCKETBANK_TEST_NATS_URL")
    stream = JsStream(url)
    yield stream
    stream.delete()


@pytest.fixture
def store(db_url: str) -> Iterator[LedgerStoreBase]:
    s = open_ledger_store(db_url)
    yield s
    s.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def ledger(store: LedgerStoreBase, clock: ManualClock) -> LedgerService:
    return LedgerService(store, clock)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """The application database's engine (``storage.app_db``) on every engine, with every table made."""
    create_schema(db_url)
    made = make_engine(db_url)
    yield made
    made.dispose()
