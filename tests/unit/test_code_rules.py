"""Project rules the linters cannot say (reliability-security.md T19): money never meets a float.

Amounts are integer minor units and rates are ``Decimal``; a float anywhere in the domain, or in the modules that
compute or store money, is a rounding bug waiting for its amount. (String-built SQL and ``random`` in place of
``secrets`` are ruff's ``S608`` and ``S311``, on for the whole project.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[2] / "src" / "pocketbank"
MONEY_MODULES = [
    *sorted((SRC / "domain").rglob("*.py")),
    *(SRC / "services" / name for name in ("accounts.py", "payees.py", "statements.py", "transfers.py")),
    *(SRC / "services" / name for name in ("transfer_effects.py", "transfer_submit.py")),
    *(SRC / "storage" / name for name in ("money.py", "money_tables.py", "ledger_codec.py", "pg_arrays.py")),
    *(SRC / "storage" / name for name in ("ledger_store.py", "ledger_postgres.py", "ledger_sqlite.py")),
]


def floats_in(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, float):
            found.append(f"line {node.lineno}: float literal {node.value!r}")
        elif isinstance(node, ast.Name) and node.id == "float":
            found.append(f"line {node.lineno}: float")
    return found


@pytest.mark.parametrize("path", MONEY_MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_float_where_money_is_computed_or_stored(path: Path) -> None:
    assert floats_in(path.read_text()) == []


def test_the_rule_catches_what_it_is_for() -> None:
    assert floats_in("fee = amount * 0.01\n") == ["line 1: float literal 0.01"]
    assert floats_in("def f(x: float) -> int:\n    return int(float(x))\n") == ["line 1: float", "line 2: float"]
    assert floats_in("fee = amount * Decimal('0.01')\n") == []
