"""Domain events: facts that happened (past tense: ``transfer.created``), recorded in the outbox.

An event is written in the same transaction as the change it describes, so it exists exactly when the change does.
After the commit, subscribers in the process (green finance, insights, notifications) receive it; a relay can
publish the outbox to NATS for other processes. Consumers deduplicate on the event id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class DomainEvent:
    id: str  # evt_…
    type: str
    occurred_at: int  # ns since the epoch
    channel: str
    data: dict[str, Any] = field(default_factory=dict)
