"""New 128-bit ids: time-sortable, like ULIDs (48 bits of milliseconds, then 80 random bits).

Sortable ids keep B-tree inserts at the right-hand edge of the index, and make "newest first" a cheap scan. The
randomness comes from ``secrets`` so an id cannot be guessed from another.
"""

from __future__ import annotations

import secrets
import time


def new_id() -> int:
    return (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)


class SecureIdGenerator:
    """The production ``IdGenerator``."""

    def new(self) -> int:
        return new_id()
