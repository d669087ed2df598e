"""Housekeeping: what the bank may forget, when, and in steps small enough not to get in the way.

Two tables would only ever grow:

- **Idempotency keys.** A key protects its request against retries for ``idempotency`` (24 hours by default, as
  Stripe does); after that, a request with the same key is judged afresh. Money still cannot move twice: a
  transfer's id is derived from the customer and the key, so a late retry of the same transfer finds the one it
  made, and a different payment under a reused key is refused (``services.transfers``).
- **The outbox.** An event is kept for ``outbox`` (7 days by default) after the relay has published it, to
  investigate or replay from the database. An event not yet published is never deleted, however old: it is the only
  copy (a bank that runs without a broker keeps its events until one is configured).

Each purge statement deletes at most ``batch`` rows in its own short transaction, so a large backlog never holds
locks for long, and a run stops after ``max_batches`` of them so one run cannot occupy the database: the next run
goes on from there. Every worker may run housekeeping; two runs at once delete disjoint or already-deleted rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pocketbank.domain.clock import NS_PER_SECOND, Clock
from pocketbank.services.ports import IdempotencyStore, Outbox

HOUR_NS = 3600 * NS_PER_SECOND
DAY_NS = 24 * HOUR_NS


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    idempotency_ns: int = 24 * HOUR_NS
    outbox_ns: int = 7 * DAY_NS
    batch: int = 1000
    max_batches: int = 50

    def __post_init__(self) -> None:
        if self.idempotency_ns <= 0 or self.outbox_ns <= 0 or self.batch <= 0 or self.max_batches <= 0:
            raise ValueError("retention periods and batch sizes must be positive")


@dataclass(frozen=True, slots=True)
class HousekeepingPass:
    """What one run deleted."""

    idempotency_keys: int = 0
    outbox_events: int = 0

    @property
    def total(self) -> int:
        return self.idempotency_keys + self.outbox_events


class Housekeeping:
    def __init__(
        self, idempotency: IdempotencyStore, outbox: Outbox, clock: Clock, policy: RetentionPolicy | None = None
    ) -> None:
        self.idempotency, self.outbox, self.clock = idempotency, outbox, clock
        self.policy = policy or RetentionPolicy()

    def run_once(self) -> HousekeepingPass:
        now = self.clock.now_ns()
        p = self.policy
        keys = self._drain(lambda n: self.idempotency.purge(now - p.idempotency_ns, n))
        events = self._drain(lambda n: self.outbox.purge_dispatched(now - p.outbox_ns, n))
        return HousekeepingPass(idempotency_keys=keys, outbox_events=events)

    def _drain(self, purge: Callable[[int], int]) -> int:
        total = 0
        for _ in range(self.policy.max_batches):
            deleted = purge(self.policy.batch)
            total += deleted
            if deleted < self.policy.batch:
                break
        return total
