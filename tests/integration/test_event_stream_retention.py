"""The event stream's retention on a real NATS JetStream server: a stream the relay creates gets the configured max
age, and an existing stream is brought to it with the rest of its configuration left as the operator set it."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import StreamConfig

from nats_helpers import JsStream, _with_js
from pocketbank.domain.events import DomainEvent

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
