"""Look-up filters, after TigerBeetle's ``AccountFilter``.

Results are ordered by timestamp, which is unique and increasing per writer, so a page ends at the last record's
timestamp and the next page starts just after it (``timestamp_min = last.timestamp + 1``, or ``timestamp_max =
last.timestamp - 1`` when reading newest first). Bounds are inclusive; 0 means unbounded.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_PAGE = 8190


@dataclass(frozen=True, slots=True)
class AccountFilter:
    account_id: int
    timestamp_min: int = 0
    timestamp_max: int = 0
    limit: int = 100
    debits: bool = True
    credits: bool = True
    reversed: bool = False
    code: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
        if self.timestamp_min < 0 or self.timestamp_max < 0:
            raise ValueError("timestamps are non-negative")


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What ``pocketbank ledger verify`` found; ``ok`` when there are no problems."""

    accounts: int
    transfers: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems
