"""The system clock, the production implementation of ``domain.clock.Clock``."""

from __future__ import annotations

import time


class SystemClock:
    def now_ns(self) -> int:
        return time.time_ns()
