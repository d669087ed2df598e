"""The served app relays the outbox to NATS JetStream: what a request commits reaches the stream by itself.

``app_with_jobs`` starts the relay thread when the container has a relay (``POCKETBANK_NATS_URL``); here the
container's relay is pointed at this test's own stream. Without a URL there is no relay, and the outbox just keeps
its events for the in-process subscribers.
"""

from __future__ import annotations

import time
from pathlib import Path

from auth_helpers import register_customer
from fastapi.testclient import TestClient
from sqlalchemy import select

from nats_helpers import JsStream
from pocketbank.api.main import app_with_jobs
from pocketbank.bootstrap import Container, build_container
from pocketbank.config import Settings
from pocketbank.services.outbox_relay import OutboxRelay
from pocketbank.storage.app_schema import outbox


def test_events_committed_by_requests_reach_the_stream(container: Container, nats_stream: JsStream) -> None:
    container.relay = OutboxRelay(container.outbox, nats_stream.publisher(), container.clock)
    with TestClient(app_with_jobs(container), raise_server_exceptions=False) as client:
        register_customer(client, container)
        deadline = time.monotonic() + 30
        while container.outbox.undispatched() and time.monotonic() < deadline:
            time.sleep(0.05)  # polling for the relay thread's pass, not a timing assertion
        assert container.outbox.undispatched() == []
    with container.engine.connect() as conn:
        committed = conn.execute(select(outbox.c.id).order_by(outbox.c.occurred_at, outbox.c.id)).scalars().all()
    assert committed  # the registration recorded its events
    assert [m.msg_id for m in nats_stream.messages()] == committed
    assert all(m.subject == f"{nats_stream.prefix}.{m.body['type']}" for m in nats_stream.messages())


def test_the_relay_is_wired_only_with_a_nats_url(tmp_path: Path) -> None:
    base = Settings(
        database_url=f"sqlite:///{tmp_path / 'bank.db'}",
        password_hash_profile="fast",
        sms_sender="memory",
        nats_url=None,
    )
    without = build_container(base)
    try:
        assert without.relay is None
    finally:
        without.close()
    with_url = build_container(base.model_copy(update={"nats_url": "nats://127.0.0.1:4222"}))
    try:
        assert isinstance(with_url.relay, OutboxRelay)
    finally:
        with_url.close()  # never connected: closing it is a no-op
