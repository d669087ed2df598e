"""Settings: the only place that reads the environment (every variable is prefixed ``POCKETBANK_``)."""

from __future__ import annotations

from pydantic import Field
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
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    log_json: bool = Field(default=False, description="JSON log lines (production) instead of console rendering")
