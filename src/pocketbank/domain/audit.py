"""The audit trail: who did what, through which channel and how they proved who they were.

Every operation writes an ``AuditRecord`` in the same transaction as its effects. Records are append-only and
hash-chained per *stream* (one stream per customer or staff member): each record's hash covers the previous
record's hash and its own canonical content, so editing, deleting or reordering any record breaks every hash after
it, and ``verify_chain`` finds the first broken link. Chaining per stream rather than globally keeps one customer's
writes from queueing behind everyone else's, while still making each person's history tamper-evident.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pocketbank.domain.principals import Principal

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditRecord:
    actor_type: str  # "customer", "staff", "system"
    actor_id: str
    action: str  # e.g. "transfer.created"
    subject: str  # the object acted on, as a public id
    channel: str
    auth_method: str
    at: int  # ns since the epoch
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def stream(self) -> str:
        return f"{self.actor_type}:{self.actor_id}"


def audit_by(principal: Principal, action: str, subject: str, at: int, **detail: Any) -> AuditRecord:
    """The audit record of ``principal`` doing ``action`` to ``subject``, with the channel and how they proved it."""
    return AuditRecord(
        actor_type=principal.kind.value,
        actor_id=principal.public_id,
        action=action,
        subject=subject,
        channel=principal.channel.value,
        auth_method=principal.auth_method.value,
        at=at,
        detail=detail,
    )


def fields(record: AuditRecord, seq: int) -> dict[str, Any]:
    """What a record's hash covers, by name: also the columns a store writes."""
    return {
        "stream": record.stream,
        "seq": seq,
        "actor_type": record.actor_type,
        "actor_id": record.actor_id,
        "action": record.action,
        "subject": record.subject,
        "channel": record.channel,
        "auth_method": record.auth_method,
        "at": record.at,
        "detail": record.detail,
    }


def canonical(record: AuditRecord, seq: int) -> bytes:
    return json.dumps(fields(record, seq), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, record: AuditRecord, seq: int) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(record, seq)).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredAudit:
    seq: int
    record: AuditRecord
    prev_hash: str
    hash: str


def verify_chain(entries: Iterable[StoredAudit]) -> list[str]:
    """Problems in one stream's entries (in seq order); empty when the chain is intact."""
    problems: list[str] = []
    prev = GENESIS
    expected_seq = 1
    for e in entries:
        if e.seq != expected_seq:
            problems.append(f"{e.record.stream}: seq {e.seq} where {expected_seq} was expected")
        if e.prev_hash != prev:
            problems.append(f"{e.record.stream}#{e.seq}: link to the previous record is broken")
        if chain_hash(e.prev_hash, e.record, e.seq) != e.hash:
            problems.append(f"{e.record.stream}#{e.seq}: content does not match its hash")
        prev = e.hash
        expected_seq = e.seq + 1
    return problems
