"""Column types shared by the application tables.

``Id128`` stores a 128-bit id as 16 big-endian bytes (BLOB / bytea), exactly like the ledger's ids, so byte order is
numeric order and an id fits without loss on both engines (neither has a native unsigned 128-bit integer).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class Id128(TypeDecorator[int]):
    impl = LargeBinary(16)
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Dialect) -> bytes | None:
        return None if value is None else value.to_bytes(16, "big")

    def process_result_value(self, value: Any | None, dialect: Dialect) -> int | None:
        return None if value is None else int.from_bytes(bytes(value), "big")
