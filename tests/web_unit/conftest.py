"""Web app fixtures: a container on each engine with a manual clock, and HTTPS TestClients (the cookies are Secure)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from web_unit_helpers import BASE

from pocketbank.api.app import create_app
from pocketbank.bootstrap import Container, build_container
from pocketbank.config import Settings
from pocketbank.domain.clock import ManualClock


@pytest.fixture
def container(db_url: str, clock: ManualClock) -> Iterator[Container]:
    settings = Settings(
        database_url=db_url, group_commit_writers=1, password_hash_profile="fast", sms_sender="memory", redis_url=None
    )
    c = build_container(settings, clock=clock)
    yield c
    c.close()


@pytest.fixture
def app(container: Container) -> FastAPI:
    return create_app(container)


@pytest.fixture
def new_client(app: FastAPI) -> Iterator[Callable[[], TestClient]]:
    """``new_client()``: another browser (its own cookie jar) on the same app."""
    clients: list[TestClient] = []

    def make() -> TestClient:
        c = TestClient(app, base_url=BASE, raise_server_exceptions=False, follow_redirects=True)
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(new_client: Callable[[], TestClient]) -> TestClient:
    return new_client()
