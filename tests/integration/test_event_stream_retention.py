"""The event stream's retention on a real NATS JetStream server: a stream the relay creates gets the configured max
age, and an existing stream is brought to it with the rest of its configuration left as the operator set it; a
server that refuses the change does not stop the events."""

from __future__ import annotations

import asyncio

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import StreamConfig, StreamInfo, StreamState

from nats_helpers import JsStream, _with_js
from pocketbank.domain.events import DomainEvent
from pocketbank.integrations.nats_events import NatsJetStreamPublisher

DAY = 86_400.0


def config(stream: JsStream) -> StreamConfig:
    async def info(js: JetStreamContext) -> StreamConfig:
        return (await js.stream_info(stream.name)).config

    return _with_js(stream.url, info)


def publish_one(stream: JsStream, max_age_seconds: float | None) -> None:
    publisher = stream.publisher(max_age_seconds=max_age_seconds)
    try:
        event = DomainEvent("evt_retention", "transfer.created", 1, "mobile", {"n": 1})
        assert publisher.publish([event]).acknowledged == 1
    finally:
        publisher.close()


def test_the_relay_creates_its_stream_with_the_configured_max_age(nats_stream: JsStream) -> None:
    publish_one(nats_stream, 30 * DAY)
    assert config(nats_stream).max_age == 30 * DAY


def test_an_existing_stream_takes_the_configured_max_age_and_keeps_the_rest(nats_stream: JsStream) -> None:
    nats_stream.create(max_msgs=5_000, duplicate_window=60.0)  # as an operator made it, with no max age
    assert not config(nats_stream).max_age
    publish_one(nats_stream, 7 * DAY)
    after = config(nats_stream)
    assert after.max_age == 7 * DAY
    assert after.max_msgs == 5_000 and after.duplicate_window == 60.0
    publish_one(nats_stream, None)  # a publisher without a retention setting leaves the stream alone
    assert config(nats_stream).max_age == 7 * DAY


class _RefusingJetStream:
    """A JetStream that has the stream and refuses to change it (an account without the permission)."""

    def __init__(self) -> None:
        self.updates = 0

    async def stream_info(self, name: str) -> StreamInfo:
        return StreamInfo(
            config=StreamConfig(name=name, max_age=None),
            state=StreamState(messages=0, bytes=0, first_seq=0, last_seq=0, consumer_count=0),
        )

    async def update_stream(self, config: StreamConfig) -> None:
        self.updates += 1
        raise nats.js.errors.Error(description="not permitted")


def test_a_refused_retention_update_does_not_stop_publishing() -> None:
    publisher = NatsJetStreamPublisher("nats://127.0.0.1:1", stream="S", max_age_seconds=DAY)
    js = _RefusingJetStream()
    asyncio.run(publisher._ensure_stream(js))  # type: ignore[arg-type]  # returns: the stream is there
    assert js.updates == 1
