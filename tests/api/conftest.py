"""API fixtures: a container on each engine with a manual clock, and a TestClient on its app."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from auth_helpers import SignedUp, last_code, prc_id, register_customer, staff_headers
from fastapi.testclient import TestClient
from money_helpers import add_payee, deposit, relax_rate_limits, transfer, yuan

from pocketbank.api.app import create_app
from pocketbank.bootstrap import Container, build_container
from pocketbank.config import Settings
from pocketbank.domain.clock import ManualClock
from pocketbank.domain.principals import StaffRole

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


@pytest.fixture
def supervisor(client: TestClient, container: Container) -> dict[str, str]:
    """Bearer headers of a logged-in supervisor (who may reverse transfers)."""
    return staff_headers(client, container, username="super1", role=StaffRole.SUPERVISOR)


@pytest.fixture
def posted(
    client: TestClient, container: Container, signup: Callable[..., SignedUp], teller: dict[str, str]
) -> tuple[SignedUp, SignedUp, dict[str, Any]]:
    """Customer a paid b 300 yuan out of 1,000 (a posted transfer, as the API returned it)."""
    relax_rate_limits(container)
    a, b = signup(), signup()
    deposit(client, teller, a.account_id, yuan(1_000))
    r = transfer(client, container, a, yuan(300), payee_id=add_payee(client, a, b.account_id))
    assert r.status_code == 201, r.text
    return a, b, r.json()
