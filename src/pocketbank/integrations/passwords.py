"""Password and PIN hashing with argon2id (``services.auth_ports.PasswordHasher``).

The ``owasp`` profile is OWASP's minimum for argon2id (m = 19 MiB, t = 2, p = 1; ASVS 5.0 11.4.2). The ``fast``
profile exists only so the test suite does not spend seconds per sign-up; it must never serve customers.
Hashes carry their parameters, so a hash made under either profile still verifies under the other, and
``needs_rehash`` tells the service to upgrade an old hash at the next successful login.
"""

from __future__ import annotations

from typing import Literal

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

HashProfile = Literal["owasp", "fast"]

# (memory in KiB, iterations, lanes)
_PROFILES: dict[str, tuple[int, int, int]] = {"owasp": (19 * 1024, 2, 1), "fast": (8, 1, 1)}


class Argon2Hasher:
    def __init__(self, profile: HashProfile = "owasp") -> None:
        memory, iterations, lanes = _PROFILES[profile]
        self._hasher = PasswordHasher(
            time_cost=iterations, memory_cost=memory, parallelism=lanes, hash_len=32, salt_len=16, type=Type.ID
        )

    def hash(self, secret: str) -> str:
        return self._hasher.hash(secret)

    def verify(self, encoded: str, secret: str) -> bool:
        try:
            return self._hasher.verify(encoded, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, encoded: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(encoded)
        except InvalidHashError:
            return True
