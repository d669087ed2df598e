"""Time as a port: the domain and services never read the system clock themselves.

Everything that depends on "now" (transfer timestamps, pending timeouts, session expiry) asks a ``Clock``. In
production it is the system clock; in tests a ``ManualClock`` that only moves when the test moves it, so a
timeout can be crossed exactly, without sleeping.
"""

from __future__ import annotations

from typing import Protocol

NS_PER_SECOND = 1_000_000_000


class Clock(Protocol):
    def now_ns(self) -> int:
        """Nanoseconds since the Unix epoch (UTC)."""
        ...


class ManualClock:
    """A clock that stands still until told to move."""

    def __init__(self, start_ns: int = 1_767_225_600 * NS_PER_SECOND) -> None:  # 2026-01-01T00:00:00Z
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def advance(self, seconds: int = 0, *, ns: int = 0) -> None:
        self._now += seconds * NS_PER_SECOND + ns

    def set(self, now_ns: int) -> None:
        self._now = now_ns
