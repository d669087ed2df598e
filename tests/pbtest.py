"""Helpers every test directory can import (``from pbtest import missing_service``): tests/ is on the path."""

from __future__ import annotations

import os

import pytest


def require_services() -> bool:
    return os.environ.get("POCKETBANK_REQUIRE_SERVICES") == "1"


def pg_admin_url() -> str | None:
    return os.environ.get("POCKETBANK_TEST_PG_URL") or None


def missing_service(reason: str) -> None:
    """Skip, or fail when the run requires every service."""
    if require_services():
        pytest.fail(f"{reason} (POCKETBANK_REQUIRE_SERVICES=1)")
    pytest.skip(reason)
