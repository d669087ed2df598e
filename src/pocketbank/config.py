"""Settings: the only place that reads the environment (every variable is prefixed ``POCKETBANK_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POCKETBANK_", extra="ignore", frozen=True)

    database_url: str = Field(
        default="sqlite:///pocketbank.db",
        description="sqlite:///path/to/file.db (embedded) or postgresql://user@host:5432/dbname",
    )
    group_commit_writers: int = Field(
        default=1, ge=0, le=16, description="Writer threads coalescing concurrent transfers; 0 turns it off"
    )
    transfer_batch_writers: int = Field(
        default=1,
        ge=0,
        le=16,
        description="Writer threads recording, sending and finishing concurrent transfers together (one statement "
        "per table for the lot); 0: each request writes its own",
    )
    ledger_pool_size: int = Field(
        default=8,
        ge=2,
        le=64,
        description="PostgreSQL connections per process for the ledger (group-commit writers and look-ups); the "
        "server's max_connections must cover workers x (this + the application pool of 50)",
    )
    gc_young_threshold: int = Field(
        default=20_000,
        ge=0,
        le=1_000_000,
        description="The served app's garbage collector: allocations between young-generation passes, with what was "
        "built at startup frozen out of every pass (``api.main.tuned_gc``); 0 leaves Python's own settings",
    )
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    log_json: bool = Field(default=False, description="JSON log lines (production) instead of console rendering")
    redis_url: str | None = Field(
        default=None, description="redis://host:6379/0 for rate limits shared by every worker; unset: in memory"
    )
    nats_url: str | None = Field(
        default=None,
        description="nats://host:4222 (JetStream enabled): relay the outbox to the stream POCKETBANK_EVENTS, subjects "
        "pocketbank.events.<type>; unset: no relay, events reach in-process subscribers only",
    )
    idempotency_retention_hours: int = Field(
        default=24,
        ge=24,
        le=24 * 90,
        description="How long an Idempotency-Key replays its first response (Stripe keeps keys at least 24 hours)",
    )
    outbox_retention_days: int = Field(
        default=7, ge=1, le=3650, description="How long a published event stays in the outbox table; unpublished: kept"
    )
    event_stream_max_age_days: int = Field(
        default=30, ge=1, le=3650, description="NATS JetStream keeps an event this long (the stream's max_age)"
    )
    password_hash_profile: Literal["owasp", "fast"] = Field(
        default="owasp", description="argon2id cost: owasp (m=19 MiB, t=2, p=1); fast is for tests only"
    )
    sms_sender: Literal["logging", "memory"] = Field(
        default="logging", description="logging: log each SMS and keep the latest code (demo); memory: tests"
    )
    web_secret: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="Signs the web app's CSRF tokens; set it (32+ characters) when several workers serve the web app",
    )
    data_keys: SecretStr | None = Field(
        default=None,
        description="Seal TOTP seeds at rest: key_id:base64key[,key_id:base64key...], the first seals, all open "
        "(`pocketbank new-data-key`); unset: a key kept in the database itself, with a warning (demos only)",
    )
