"""API fixtures: a container on each engine with a manual clock, and a TestClient on its app."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from auth_helpers import SignedUp, last_code, prc_id, register_customer, staff_headers
from fastapi.testclient import TestClient

from pocketbank.api.app import create_app
from pocketbank.bootstrap import Container, build_container
from pocketbank.config import Settings
from pocketbank.domain.clock import ManualClock

# Re-exported: older tests import these from conftest; new ones should import them from auth_helpers.
__all__ = ["SignedUp", "last_code", "prc_id", "register_customer", "staff_headers"]


@pytest.fixture
def container(db_url: str, clock: ManualClock) -> Iterator[Container]:
    settings = Settings(
        database_url=db_url, group_commit_writers=1, password_hash_profile="fast", sms_sender="memory", redis_url=None
    )
    c = build_container(settings, clock=clock)
    yield c
    c.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), raise_server_exceptions=False) as c:
        yield c


# --- customers & auth: `signup()` and `teller` (helpers in auth_helpers.py) ----------------------------------


@pytest.fixture
def signup(client: TestClient, container: Container) -> Callable[..., SignedUp]:
    """``signup()`` or ``signup(phone="13800138000", password=...)``: a new logged-in customer."""

    def make(**kwargs: Any) -> SignedUp:
        return register_customer(client, container, **kwargs)

    return make


@pytest.fixture
def teller(client: TestClient, container: Container) -> dict[str, str]:
    """Bearer headers of a logged-in teller."""
    return staff_headers(client, container)
