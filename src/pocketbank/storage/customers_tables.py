"""Tables of the customers & auth part: customers, devices, sessions, one-time codes, step-up challenges, staff.

Secrets are never stored in the clear: passwords and PINs as argon2id hashes, tokens and one-time codes as
SHA-256 hex digests (a token has 256 random bits, so a plain hash is enough; a leaked table yields no usable
token). The TOTP seed, which the verifier needs back, is sealed with AES-256-GCM (``integrations.secretbox``):
``totp_secret`` holds the ciphertext and ``totp_key_id`` the key that sealed it; it is never returned by any API
after enrolment. Times are nanoseconds since the epoch (UTC); 0 in ``locked_until`` means not locked.

A database made before the TOTP seed was sealed and staff lockout existed is upgraded by migration ``0002``
(``pocketbank db upgrade``, or any worker at start: ``storage.migrate``); then run, once,
``pocketbank reseal-totp --adopt-plaintext`` to seal the seeds it still holds in the clear.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, UniqueConstraint

from pocketbank.storage.schema import metadata
from pocketbank.storage.types import Id128

customers = Table(
    "customers",
    metadata,
    Column("id", Id128, primary_key=True),
    Column("public_id", String(40), nullable=False, unique=True),
    Column("phone", String(20), nullable=False, unique=True),
    Column("name", String(64), nullable=False),
    Column("id_kind", String(24), nullable=False),
    Column("id_number", String(32), nullable=False),
    Column("account_class", Integer, nullable=False),
    Column("status", String(24), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("pin_hash", String(255), nullable=True),
    Column("totp_secret", String(255), nullable=True),  # sealed: base64 of nonce, ciphertext and tag
    Column("totp_key_id", String(32), nullable=True),  # NULL beside a secret: a legacy plaintext row, never trusted
    Column("totp_enabled_at", BigInteger, nullable=True),
    Column("totp_last_step", BigInteger, nullable=False, default=0),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", BigInteger, nullable=False, default=0),
    Column("created_at", BigInteger, nullable=False),
    Column("phone_verified_at", BigInteger, nullable=True),
    UniqueConstraint("id_kind", "id_number", name="uq_customers_id_document"),
)

devices = Table(
    "devices",
    metadata,
    Column("id", Id128, primary_key=True),
    Column("customer_id", Id128, ForeignKey("customers.id"), nullable=False),
    Column("label", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("trusted_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
    Column("last_seen_at", BigInteger, nullable=True),
    Index("ix_devices_customer", "customer_id"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Id128, primary_key=True),
    Column("principal_kind", String(16), nullable=False),
    Column("principal_id", Id128, nullable=False),
    Column("principal_public_id", String(40), nullable=False),
    Column("role", String(16), nullable=True),
    Column("device_id", Id128, nullable=True),
    Column("access_hash", String(64), nullable=False, unique=True),
    Column("access_expires_at", BigInteger, nullable=False),
    Column("refresh_hash", String(64), nullable=False, unique=True),
    Column("refresh_expires_at", BigInteger, nullable=False),
    Column("last_seen_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("auth_method", String(16), nullable=False),
    Index("ix_sessions_principal", "principal_id"),
)

# Every refresh token a session ever had: presenting a rotated-away one means it was stolen, so the family dies.
spent_refresh_tokens = Table(
    "spent_refresh_tokens",
    metadata,
    Column("refresh_hash", String(64), primary_key=True),
    Column("session_id", Id128, ForeignKey("sessions.id"), nullable=False),
    Column("spent_at", BigInteger, nullable=False),
)

one_time_codes = Table(
    "one_time_codes",
    metadata,
    Column("id", Id128, primary_key=True),
    Column("purpose", String(16), nullable=False),
    Column("target", String(64), nullable=False),
    Column("code_hash", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("used_at", BigInteger, nullable=True),
    Index("ix_one_time_codes_target", "purpose", "target", "created_at"),
)

step_up_challenges = Table(
    "step_up_challenges",
    metadata,
    Column("id", Id128, primary_key=True),
    Column("customer_id", Id128, ForeignKey("customers.id"), nullable=False),
    Column("binding", String(64), nullable=False),
    Column("method", String(16), nullable=False),
    Column("code_hash", String(64), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("used_at", BigInteger, nullable=True),
)

staff_users = Table(
    "staff_users",
    metadata,
    Column("id", Id128, primary_key=True),
    Column("public_id", String(40), nullable=False, unique=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("name", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", BigInteger, nullable=False, default=0),
)
