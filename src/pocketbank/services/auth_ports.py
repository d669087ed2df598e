"""Ports and records of the customers & auth part: what the customer, auth and staff services need from adapters.

The records are what the stores hand back; secrets in them are only ever hashes (argon2id for passwords and PINs,
SHA-256 for tokens and one-time codes), except the TOTP seed, which the verifier needs back in the clear: it is kept
``Sealed`` (encrypted and authenticated by a ``SecretBox``) and opened only for the moment a code is checked. The
records never leave the services: the API renders separate views that carry no hash or seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from pocketbank.domain.channels import AuthMethod, Channel
from pocketbank.domain.customers import AccountClass, CustomerStatus, IdKind
from pocketbank.domain.principals import PrincipalKind, StaffRole
from pocketbank.services.ports import Tx, UnitOfWork


class TxRunner(UnitOfWork, Protocol):
    """The unit of work, plus a read-only connection for hot read paths (token checks) that must not lock."""

    def read(self) -> AbstractContextManager[Tx]: ...


@dataclass(frozen=True, slots=True)
class Sealed:
    """A secret encrypted by a ``SecretBox``: the id of the key that sealed it, and the sealed bytes (text)."""

    key_id: str  # LEGACY_PLAINTEXT for a row written before secrets were sealed
    blob: str


# The key id of a row stored before sealing existed: its blob is the secret in the clear. No box opens it, so a
# plaintext value planted in the database is never trusted; only an operator's explicit re-seal adopts it.
LEGACY_PLAINTEXT = ""


class SecretUnreadable(Exception):
    """A sealed value did not open: its key is unknown, the key is wrong, it was altered, or it belongs to another row.

    Deliberately not a ``PocketBankError``: it is an operator problem (keys), never something to tell the client.
    """


class SecretBox(Protocol):
    """Authenticated encryption of small secrets at rest, with named keys so they can rotate."""

    @property
    def current_key_id(self) -> str:
        """The key ``seal`` uses; a value sealed under another key should be re-sealed when next opened."""
        ...

    def seal(self, secret: str, context: str) -> Sealed:
        """Encrypt under the current key, bound to ``context`` (which row and field it belongs to)."""
        ...

    def open(self, sealed: Sealed, context: str) -> str:
        """The secret, if ``sealed`` was sealed for exactly ``context`` under a known key; else ``SecretUnreadable``."""
        ...


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    id: int
    public_id: str
    phone: str
    name: str
    id_kind: IdKind
    id_number: str
    account_class: AccountClass
    status: CustomerStatus
    password_hash: str
    pin_hash: str | None
    totp_secret: Sealed | None
    totp_enabled_at: int | None
    totp_last_step: int
    failed_logins: int
    locked_until: int
    created_at: int
    phone_verified_at: int | None


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    id: int
    customer_id: int
    label: str
    created_at: int
    trusted_at: int | None
    revoked_at: int | None
    last_seen_at: int | None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: int
    principal_kind: PrincipalKind
    principal_id: int
    principal_public_id: str
    role: StaffRole | None
    device_id: int  # 0 for staff sessions
    access_hash: str
    access_expires_at: int
    refresh_hash: str
    refresh_expires_at: int
    last_seen_at: int
    revoked_at: int | None
    created_at: int
    channel: Channel
    auth_method: AuthMethod


@dataclass(frozen=True, slots=True)
class CodeRecord:
    """A one-time code sent by SMS: for a sign-up (target: the phone) or a new device (target: the device id)."""

    id: int
    purpose: str  # register | new_device
    target: str
    code_hash: str
    created_at: int
    expires_at: int
    attempts: int
    used_at: int | None


@dataclass(frozen=True, slots=True)
class ChallengeRecord:
    """A step-up challenge: one proof (SMS code, TOTP or PIN) bound to one binding digest."""

    id: int
    customer_id: int
    binding: str
    method: AuthMethod
    code_hash: str | None  # only for sms
    created_at: int
    expires_at: int
    attempts: int
    used_at: int | None


@dataclass(frozen=True, slots=True)
class StaffRecord:
    id: int
    public_id: str
    username: str
    name: str
    role: StaffRole
    password_hash: str
    created_at: int
    failed_logins: int = 0
    locked_until: int = 0


class CustomerStore(Protocol):
    def insert(self, tx: Tx, customer: CustomerRecord) -> None:
        """Raises ``AlreadyRegistered`` when the phone or the identity document is taken."""
        ...

    def get(self, tx: Tx, customer_id: int, *, for_update: bool = False) -> CustomerRecord | None: ...

    def get_by_public_id(self, tx: Tx, public_id: str) -> CustomerRecord | None: ...

    def find_by_phone(self, tx: Tx, phone: str, *, for_update: bool = False) -> CustomerRecord | None: ...

    def find_by_document(self, tx: Tx, id_kind: IdKind, id_number: str) -> CustomerRecord | None: ...

    def record_login_failure(self, tx: Tx, customer_id: int, failed_logins: int, locked_until: int) -> None: ...

    def reset_login_failures(self, tx: Tx, customer_id: int) -> None: ...

    def set_password_hash(self, tx: Tx, customer_id: int, password_hash: str) -> None: ...

    def set_pin_hash(self, tx: Tx, customer_id: int, pin_hash: str) -> None: ...

    def set_totp(self, tx: Tx, customer_id: int, secret: Sealed | None, enabled_at: int | None) -> None: ...

    def reseal_totp(self, tx: Tx, customer_id: int, old: Sealed, new: Sealed) -> bool:
        """Swap the sealed TOTP seed ``old`` for ``new`` (a key rotation), only if ``old`` is still the stored one;
        enrolment state and last step stay as they are. False if the row changed meanwhile."""
        ...

    def totp_sealed_by_other_keys(self, tx: Tx, key_id: str, after_id: int, limit: int) -> list[tuple[int, Sealed]]:
        """Up to ``limit`` (customer id, seed) pairs, in id order above ``after_id``, whose key is not ``key_id``."""
        ...

    def set_totp_last_step(self, tx: Tx, customer_id: int, step: int) -> None: ...

    def set_account_class(self, tx: Tx, customer_id: int, account_class: AccountClass) -> None: ...


class LoginFailureStore(Protocol):
    """Consecutive failed logins and the lock they caused: customers and staff both keep them (``auth_common``)."""

    def record_login_failure(self, tx: Tx, principal_id: int, failed_logins: int, locked_until: int, /) -> None: ...

    def reset_login_failures(self, tx: Tx, principal_id: int, /) -> None: ...


class AuthStore(Protocol):
    # devices
    def insert_device(self, tx: Tx, device: DeviceRecord) -> None: ...

    def get_device(self, tx: Tx, device_id: int) -> DeviceRecord | None: ...

    def list_devices(self, tx: Tx, customer_id: int) -> list[DeviceRecord]: ...

    def trust_device(self, tx: Tx, device_id: int, at: int) -> None: ...

    def revoke_device(self, tx: Tx, device_id: int, at: int) -> None: ...

    def touch_device(self, tx: Tx, device_id: int, at: int) -> None: ...

    # sessions
    def insert_session(self, tx: Tx, session: SessionRecord) -> None: ...

    def session_by_access(self, tx: Tx, access_hash: str) -> SessionRecord | None: ...

    def session_by_refresh(self, tx: Tx, refresh_hash: str) -> SessionRecord | None: ...

    def session_by_spent_refresh(self, tx: Tx, refresh_hash: str) -> SessionRecord | None:
        """The session a refresh token belonged to after it was rotated away (reuse detection)."""
        ...

    def rotate_session(
        self, tx: Tx, session: SessionRecord, access_hash: str, access_expires_at: int, refresh_hash: str, now: int
    ) -> bool:
        """Swap both token hashes if the refresh hash is still current; False if someone rotated it first."""
        ...

    def touch_session(self, tx: Tx, session_id: int, at: int) -> None: ...

    def revoke_session(self, tx: Tx, session_id: int, at: int) -> None: ...

    def revoke_sessions(
        self, tx: Tx, principal_id: int, at: int, *, except_session: int = 0, device_id: int = 0
    ) -> int:
        """Revoke the principal's live sessions (all, all but one, or those of one device); returns how many."""
        ...

    # one-time codes
    def insert_code(self, tx: Tx, code: CodeRecord) -> None: ...

    def get_code(self, tx: Tx, code_id: int, *, for_update: bool = False) -> CodeRecord | None: ...

    def latest_code(self, tx: Tx, purpose: str, target: str, *, for_update: bool = False) -> CodeRecord | None: ...

    def count_code_attempt(self, tx: Tx, code_id: int) -> None: ...

    def use_code(self, tx: Tx, code_id: int, at: int) -> None: ...

    # step-up challenges
    def insert_challenge(self, tx: Tx, challenge: ChallengeRecord) -> None: ...

    def get_challenge(self, tx: Tx, challenge_id: int, *, for_update: bool = False) -> ChallengeRecord | None: ...

    def count_challenge_attempt(self, tx: Tx, challenge_id: int) -> None: ...

    def use_challenge(self, tx: Tx, challenge_id: int, at: int) -> None: ...

    def spend_challenges(self, tx: Tx, challenge_ids: Sequence[int], at: int, max_attempts: int) -> set[int]:
        """Mark used each challenge still unused with fewer than ``max_attempts`` attempts; the ids marked."""
        ...


class StaffStore(Protocol):
    def insert(self, tx: Tx, staff: StaffRecord) -> None:
        """Raises ``Conflict`` when the user name is taken."""
        ...

    def find_by_username(self, tx: Tx, username: str, *, for_update: bool = False) -> StaffRecord | None: ...

    def record_login_failure(self, tx: Tx, staff_id: int, failed_logins: int, locked_until: int) -> None: ...

    def reset_login_failures(self, tx: Tx, staff_id: int) -> None: ...


class SmsSender(Protocol):
    def send(self, phone: str, text: str, *, code: str | None = None) -> None:
        """Send ``text`` to ``phone``; ``code`` repeats the one-time code in it (test and demo senders keep it)."""
        ...


class RateLimiter(Protocol):
    def hit(self, key: str, *, limit: int, window_seconds: int, now_ns: int) -> int:
        """Count one attempt under ``key``; 0 if allowed, else the seconds until the window lets one through."""
        ...


class PasswordHasher(Protocol):
    def hash(self, secret: str) -> str: ...

    def verify(self, encoded: str, secret: str) -> bool:
        """True if ``secret`` matches; False (never an exception) otherwise."""
        ...

    def needs_rehash(self, encoded: str) -> bool: ...


class AccountOpener(Protocol):
    def prepare_default_account(self, customer_id: int) -> None:
        """Make the ledger side of the account, before the sign-up transaction (idempotent)."""
        ...

    def open_default_account(self, tx: Tx, customer_id: int, account_class: AccountClass) -> str:
        """Open the new customer's CNY deposit account in the sign-up transaction; returns its public id."""
        ...
