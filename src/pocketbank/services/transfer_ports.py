"""The transfers part's ports: where transfer records are kept, and what a caller does with a transfer's outcome."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from pocketbank.domain.transfers import StatusChange, TransferRecord, TransferStatus
from pocketbank.services.ports import Reply, Tx


class TransferRecordStore(Protocol):
    def insert(self, tx: Tx, t: TransferRecord) -> bool: ...

    def insert_many(self, tx: Tx, records: Sequence[TransferRecord]) -> None:
        """``insert`` each (one already there is left as it is)."""
        ...

    def get(self, transfer_id: int) -> TransferRecord | None: ...

    def set_status(
        self,
        tx: Tx,
        transfer_id: int,
        status: TransferStatus,
        expected: TransferStatus,
        reason: str = "",
        *,
        at: int,
    ) -> bool:
        """Move from ``expected`` to ``status``, remembering ``at`` (ns); False if something moved it first."""
        ...

    def set_status_many(self, tx: Tx, changes: Sequence[StatusChange], *, at: int) -> set[int]:
        """``set_status`` for each change; the ids of the records that moved."""
        ...

    def due(self, now: int, limit: int = 500) -> list[TransferRecord]: ...

    def stalled(self, before: int, limit: int = 100) -> list[TransferRecord]:
        """Records still ``processing`` that were created at or before ``before`` (ns), and records ``reversing``
        since then; oldest first."""
        ...

    def get_many(self, ids: list[int]) -> dict[int, TransferRecord]: ...


# What a caller stores with a transfer's outcome, in the unit of work that writes it: its answer to the request,
# made from the record as it now stands (see ``TransferEffects.submit``).
Respond = Callable[[TransferRecord], Reply]
