"""API fixtures: a container on each engine with a manual clock, and a TestClient on its app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from pocketbank.api.app import create_app
from pocketbank.bootstrap import Container, build_container
from pocketbank.config import Settings
from pocketbank.domain.clock import ManualClock


@pytest.fixture
def container(db_url: str, clock: ManualClock) -> Iterator[Container]:
    c = build_container(Settings(database_url=db_url, group_commit_writers=1), clock=clock)
    yield c
    c.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), raise_server_exceptions=False) as c:
        yield c
