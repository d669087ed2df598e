"""The operator commands on an embedded bank: each opens the bank, does its one job, closes it, and says what it did."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pocketbank.cli.main import app


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"POCKETBANK_DATABASE_URL": f"sqlite:///{tmp_path / 'bank.db'}", "POCKETBANK_LOG_LEVEL": "ERROR"}


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["ledger", "verify"], 0, "0 transfers: ok"),
        (["ledger", "sweep"], 0, "expired 0 pending transfer(s)"),
        (["housekeeping"], 0, "deleted 0 idempotency key(s) and 0 published outbox event(s)"),
        (["outbox", "relay", "--once"], 2, "POCKETBANK_NATS_URL is not set"),
    ],
)
def test_command(env: dict[str, str], args: list[str], code: int, says: str) -> None:
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == code, result.output
    assert says in result.output
