"""The outbox relay: publishes committed domain events to the message broker, for other processes to consume.

A use case writes its events to the outbox in its own transaction (``services.ports``), so an event exists exactly
when its change does. The relay reads the oldest undispatched events, publishes them in that order through an
``EventPublisher`` (NATS JetStream in production, ``integrations.nats_events``), and marks dispatched only the ones
the broker acknowledged. Nothing is ever lost: an event leaves the outbox's undispatched set only after the broker
has stored it.

Delivery is **at least once**. A relay that crashes (or whose database write fails) after the broker acknowledged a
batch and before the mark committed publishes that batch again on its next pass. Each message carries the event id
as its broker-side message id, so a re-publish inside the broker's duplicate window (two minutes) is dropped by the
broker; beyond it, consumers deduplicate on the event id, as every consumer of domain events must.

**Several workers.** Every API worker runs a relay. The outbox's ``claim`` lets one relay at a time take a batch
where the database can say so (PostgreSQL: an advisory lock held while the batch is published; the others skip their
pass). That keeps the stream in outbox order and spares the broker N copies of every event. On SQLite the claim is a
plain read and two processes may publish the same batch: the broker's deduplication on the event id keeps one copy,
and the order holds because each relay publishes in outbox order and waits for each acknowledgement.

**Order.** Events are published in outbox order (``occurred_at``, then id), one at a time, each acknowledged before
the next is sent, and a batch stops at the first failure, so a later event never overtakes an earlier one in the
stream. The outbox order is the order of the clock when each use case ran; an event whose transaction commits after
a later-stamped one was already relayed follows it in the stream. Consumers that need a strict order per object
keep it with the object's own version, not with stream positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from pocketbank.domain.clock import Clock
from pocketbank.domain.events import DomainEvent
from pocketbank.services.ports import EventPublisher

DEFAULT_BATCH = 500


class RelaySource(Protocol):
    """The outbox as the relay reads it (``storage.outbox.SqlOutbox``)."""

    def claim(self, limit: int) -> AbstractContextManager[list[DomainEvent] | None]:
        """The oldest ``limit`` undispatched events, or None while another relay holds the claim."""
        ...

    def mark_dispatched(self, ids: Sequence[str], at: int) -> None: ...


@dataclass(frozen=True, slots=True)
class RelayPass:
    """What one pass did."""

    claimed: int = 0  # events read from the outbox
    published: int = 0  # acknowledged by the broker and marked dispatched
    duplicates: int = 0  # of those, re-publishes the broker dropped (a previous pass crashed before its mark)
    skipped: bool = False  # another relay held the claim

    @property
    def failed(self) -> bool:
        """Some claimed events were not acknowledged: they stay in the outbox for the next pass."""
        return self.published < self.claimed


class OutboxRelay:
    def __init__(
        self, source: RelaySource, publisher: EventPublisher, clock: Clock, *, batch_size: int = DEFAULT_BATCH
    ) -> None:
        self.source, self.publisher, self.clock, self.batch_size = source, publisher, clock, batch_size

    def relay_once(self) -> RelayPass:
        """Publish one batch and mark what the broker acknowledged. Raises only if the database does."""
        with self.source.claim(self.batch_size) as events:
            if events is None:
                return RelayPass(skipped=True)
            if not events:
                return RelayPass()
            outcome = self.publisher.publish(events)
            acknowledged = events[: outcome.acknowledged]
            # Marked only now, after the acknowledgements: a crash before this line means a re-publish, never a loss.
            self.source.mark_dispatched([e.id for e in acknowledged], self.clock.now_ns())
            return RelayPass(len(events), len(acknowledged), outcome.duplicates)

    def drain(self, max_batches: int = 20) -> RelayPass:
        """Relay batch after batch until the outbox is empty, a batch fails or ``max_batches`` ran (so a worker
        catching up on a backlog still returns to its loop now and then); the totals of the passes."""
        total = RelayPass()
        for _ in range(max_batches):
            one = self.relay_once()
            total = RelayPass(
                total.claimed + one.claimed,
                total.published + one.published,
                total.duplicates + one.duplicates,
                one.skipped,
            )
            if one.skipped or one.failed or one.claimed < self.batch_size:
                break
        return total

    def close(self) -> None:
        self.publisher.close()
