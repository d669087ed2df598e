"""The outbox relay against a real NATS JetStream server, on SQLite and PostgreSQL.

Events written in units of work reach the stream in outbox order, once per event id, on ``<prefix>.<type>``; they
are marked dispatched only after the server acknowledged them; a crash between publishing and marking, an
unreachable server and a cut connection all end with every event in the stream exactly once and none lost.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager

import pytest
from nats.js.api import DiscardPolicy, StorageType
from sqlalchemy import Engine, select

from nats_helpers import JsStream, StreamMsg, TcpProxy
from pocketbank.domain.clock import ManualClock
from pocketbank.domain.events import DomainEvent
from pocketbank.integrations.nats_events import NatsJetStreamPublisher
from pocketbank.services.outbox_relay import OutboxRelay, RelayPass
from pocketbank.services.ports import PublishOutcome
from pocketbank.storage.app_db import SqlUnitOfWork, make_engine
from pocketbank.storage.app_schema import outbox as outbox_table
from pocketbank.storage.outbox import SqlOutbox

TYPES = ["transfer.created", "payee.added", "transfer.posted"]


@pytest.fixture
def outbox(engine: Engine) -> SqlOutbox:
    return SqlOutbox(engine)


@pytest.fixture
def publishers(nats_stream: JsStream) -> Iterator[Callable[..., NatsJetStreamPublisher]]:
    """``publishers(url=None, **options)``: publishers on this test's stream, all closed afterwards."""
    made: list[NatsJetStreamPublisher] = []

    def make(url: str | None = None, **options: float) -> NatsJetStreamPublisher:
        made.append(nats_stream.publisher(url, **options))
        return made[-1]

    yield make
    for p in made:
        p.close()


def event(n: int) -> DomainEvent:
    return DomainEvent(f"evt_{n:05d}", TYPES[n % len(TYPES)], 1_000 + n, "mobile", {"n": n, "note": "转账"})


def write(outbox: SqlOutbox, numbers: Sequence[int], per_tx: int = 3) -> list[DomainEvent]:
    """The events ``numbers``, written ``per_tx`` to a unit of work (as use cases write them)."""
    events = [event(n) for n in numbers]
    uow = SqlUnitOfWork(outbox.engine)
    for i in range(0, len(events), per_tx):
        with uow.begin() as tx:
            for e in events[i : i + per_tx]:
                outbox.add(tx, e)
    return events


def pending_ids(outbox: SqlOutbox) -> list[str]:
    return [e.id for e in outbox.undispatched()]


def assert_stream_holds(stream: JsStream, events: Sequence[DomainEvent]) -> list[StreamMsg]:
    """The stream holds exactly ``events``, in order, once each, each on its type's subject."""
    msgs = stream.messages()
    assert [m.msg_id for m in msgs] == [e.id for e in events]
    assert [m.subject for m in msgs] == [f"{stream.prefix}.{e.type}" for e in events]
    assert [m.body for m in msgs] == [
        {"id": e.id, "type": e.type, "occurred_at": e.occurred_at, "channel": e.channel, "data": e.data} for e in events
    ]
    return msgs


class CheckingPublisher:
    """Delegates, after checking that none of the events it is asked to publish is marked dispatched yet."""

    def __init__(self, inner: NatsJetStreamPublisher, outbox: SqlOutbox) -> None:
        self.inner, self.outbox, self.seen = inner, outbox, 0

    def publish(self, events: Sequence[DomainEvent]) -> PublishOutcome:
        with self.outbox.engine.connect() as conn:
            marked = conn.execute(
                select(outbox_table.c.id).where(
                    outbox_table.c.id.in_([e.id for e in events]) & outbox_table.c.dispatched_at.is_not(None)
                )
            ).all()
        assert marked == []
        self.seen += len(events)
        return self.inner.publish(events)

    def close(self) -> None:
        self.inner.close()


class CrashBeforeMark:
    """The outbox, but the first ``mark_dispatched`` fails: the process died after publishing, before marking."""

    def __init__(self, inner: SqlOutbox) -> None:
        self.inner, self.crashed = inner, False

    def claim(self, limit: int) -> AbstractContextManager[list[DomainEvent] | None]:
        return self.inner.claim(limit)

    def mark_dispatched(self, ids: Sequence[str], at: int) -> None:
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("killed between publish and mark")
        self.inner.mark_dispatched(ids, at)


def test_events_reach_the_stream_in_order_and_are_marked_after_the_ack(
    outbox: SqlOutbox, nats_stream: JsStream, publishers: Callable[..., NatsJetStreamPublisher]
) -> None:
    clock = ManualClock()
    events = write(outbox, range(10))
    publisher = CheckingPublisher(publishers(), outbox)
    relay = OutboxRelay(outbox, publisher, clock, batch_size=4)

    assert relay.drain() == RelayPass(claimed=10, published=10)
    assert publisher.seen == 10
    assert pending_ids(outbox) == []
    with outbox.engine.connect() as conn:
        marks = conn.execute(select(outbox_table.c.dispatched_at)).scalars().all()
    assert marks == [clock.now_ns()] * 10
    msgs = assert_stream_holds(nats_stream, events)
    assert [m.seq for m in msgs] == list(range(1, 11))
    assert relay.relay_once() == RelayPass()  # nothing left to do


def test_a_crash_between_publish_and_mark_publishes_again_and_the_server_drops_the_copies(
    outbox: SqlOutbox, nats_stream: JsStream, publishers: Callable[..., NatsJetStreamPublisher]
) -> None:
    events = write(outbox, range(6))
    crashing = OutboxRelay(CrashBeforeMark(outbox), publishers(), ManualClock())
    with pytest.raises(RuntimeError, match="killed"):
        crashing.relay_once()
    assert pending_ids(outbox) == [e.id for e in events]  # published, but not marked
    more = write(outbox, range(6, 8))

    # The next pass (another process, after the restart) publishes the same events again.
    again = OutboxRelay(outbox, publishers(), ManualClock()).relay_once()
    assert again == RelayPass(claimed=8, published=8, duplicates=6)
    assert pending_ids(outbox) == []
    assert_stream_holds(nats_stream, events + more)


def test_only_the_acknowledged_prefix_is_marked(
    outbox: SqlOutbox, nats_stream: JsStream, publishers: Callable[..., NatsJetStreamPublisher]
) -> None:
    # A stream that refuses its third message: the server acknowledges two and answers the third with an error.
    nats_stream.create(max_msgs=2, discard=DiscardPolicy.NEW, storage=StorageType.FILE, duplicate_window=120)
    events = write(outbox, range(4))
    result = OutboxRelay(outbox, publishers(), ManualClock()).relay_once()
    assert result == RelayPass(claimed=4, published=2)
    assert result.failed
    assert pending_ids(outbox) == [e.id for e in events[2:]]
    assert_stream_holds(nats_stream, events[:2])


def test_with_nats_unreachable_nothing_is_marked_and_the_next_pass_delivers(
    outbox: SqlOutbox, nats_stream: JsStream, publishers: Callable[..., NatsJetStreamPublisher]
) -> None:
    events = write(outbox, range(5))
    down = TcpProxy(nats_stream.url)  # never started: its port refuses connections
    failed = OutboxRelay(outbox, publishers(down.url, connect_timeout=0.5), ManualClock()).relay_once()
    assert failed == RelayPass(claimed=5, published=0)
    assert pending_ids(outbox) == [e.id for e in events]
    assert nats_stream.messages() == []

    assert OutboxRelay(outbox, publishers(), ManualClock()).relay_once() == RelayPass(claimed=5, published=5)
    assert_stream_holds(nats_stream, events)


def test_a_cut_connection_is_re_established_and_nothing_is_lost_or_doubled(
    outbox: SqlOutbox, nats_stream: JsStream, publishers: Callable[..., NatsJetStreamPublisher]
) -> None:
    proxy = TcpProxy(nats_stream.url)
    proxy.start()
    try:
        relay = OutboxRelay(outbox, publishers(proxy.url, ack_timeout=0.5), ManualClock())
        first = write(outbox, range(3))
        assert relay.relay_once().published == 3

        proxy.stop()  # the server goes away mid-life
        second = write(outbox, range(3, 6))
        assert relay.relay_once() == RelayPass(claimed=3, published=0)
        assert pending_ids(outbox) == [e.id for e in second]

        proxy.start()  # it is back: the same publisher reconnects by itself
        deadline = time.monotonic() + 20
        while pending_ids(outbox) and time.monotonic() < deadline:
            relay.relay_once()
        assert pending_ids(outbox) == []
        assert_stream_holds(nats_stream, first + second)
    finally:
        proxy.stop()


def test_a_consumer_reads_the_events_of_one_type_by_subject(
    outbox: SqlOutbox, nats_stream: JsStream, publishers: Callable[..., NatsJetStreamPublisher]
) -> None:
    events = write(outbox, range(9))
    assert OutboxRelay(outbox, publishers(), ManualClock()).relay_once().published == 9
    created = [e for e in events if e.type == "transfer.created"]
    got = nats_stream.consume(f"{nats_stream.prefix}.transfer.created")
    assert [(m.msg_id, m.body["data"]) for m in got] == [(e.id, e.data) for e in created]
    assert {m.subject for m in got} == {f"{nats_stream.prefix}.transfer.created"}
    everything = nats_stream.consume(f"{nats_stream.prefix}.>")
    assert [m.msg_id for m in everything] == [e.id for e in events]


def test_one_relay_at_a_time_claims_on_postgres(db_url: str, outbox: SqlOutbox) -> None:
    write(outbox, range(3))
    other = SqlOutbox(make_engine(db_url))  # a second worker process
    try:
        with outbox.claim(10) as mine, other.claim(10) as theirs:
            assert mine is not None
            assert [e.id for e in mine] == ["evt_00000", "evt_00001", "evt_00002"]
            # PostgreSQL: the second worker skips its pass; SQLite: it reads the same batch (the server dedupes it).
            assert theirs == (None if outbox.engine.dialect.name == "postgresql" else mine)
            outbox.mark_dispatched([e.id for e in mine[:2]], at=1)
        with other.claim(10) as after:
            assert after is not None
            assert [e.id for e in after] == ["evt_00002"]
    finally:
        other.engine.dispose()


def test_relays_of_several_workers_at_once_publish_each_event_once_in_order(
    db_url: str,
    outbox: SqlOutbox,
    nats_stream: JsStream,
    publishers: Callable[..., NatsJetStreamPublisher],
) -> None:
    events = write(outbox, range(120), per_tx=10)
    engines = [make_engine(db_url) for _ in range(3)]
    relays = [OutboxRelay(SqlOutbox(e), publishers(), ManualClock(), batch_size=7) for e in engines]
    errors: list[BaseException] = []

    def work(relay: OutboxRelay) -> None:
        try:
            deadline = time.monotonic() + 60
            while pending_ids(outbox) and time.monotonic() < deadline:
                relay.relay_once()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(r,)) for r in relays]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in engines:
        e.dispose()
    assert errors == []
    assert pending_ids(outbox) == []
    assert_stream_holds(nats_stream, events)


def test_closing_a_publisher_whose_disconnect_is_cancelled_does_not_raise(
    outbox: SqlOutbox, nats_stream: JsStream, publishers: Callable[..., NatsJetStreamPublisher]
) -> None:
    """nats-py may cancel the close itself when it meets a reconnect in progress (seen once in CI, as a
    CancelledError out of close()): shutdown must go on, and the publisher's loop thread must still stop."""
    publisher = publishers()
    assert OutboxRelay(outbox, publisher, ManualClock()).relay_once().published == 0  # connects lazily: nothing yet
    write(outbox, range(1))
    assert OutboxRelay(outbox, publisher, ManualClock()).relay_once().published == 1
    thread = publisher._thread
    assert thread is not None

    disconnect = publisher._disconnect

    async def cancelled() -> None:
        await disconnect()  # the socket is closed all the same; only the awaiting task sees the cancellation
        raise asyncio.CancelledError

    publisher._disconnect = cancelled  # type: ignore[method-assign]
    publisher.close()
    assert not thread.is_alive()
