"""Shared helpers for the ledger contract suite (``test_ledger_*.py``); not a conftest, so it applies to nothing else.

Each ledger contract module imports ``bank`` and the autouse ``ledger_verifies`` fixture from here: every scenario
ends with ``store.verify()``, since whatever it did, the journal and the counters must agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pocketbank.domain.ledger import Account, AccountFlags, CreateAccountResult, Transfer, TransferFlags
from pocketbank.services.ledger import LedgerService
from pocketbank.storage.ledger_store import LedgerStoreBase

LEDGER = 1
CODE = 10


class Bank:
    """Small conveniences over the service; the assertions stay in the tests."""

    def __init__(self, ledger: LedgerService, store: LedgerStoreBase) -> None:
        self.ledger = ledger
        self.store = store

    def open(self, *ids: int, flags: int = 0, ledger: int = LEDGER, code: int = CODE) -> None:
        results = self.ledger.create_accounts([Account(i, ledger, code, flags) for i in ids])
        assert results == [CreateAccountResult.OK] * len(ids)

    @staticmethod
    def t(tid: int, dr: int, cr: int, amount: int, **kw: Any) -> Transfer:
        kw.setdefault("ledger", LEDGER)
        kw.setdefault("code", CODE)
        return Transfer(id=tid, debit_account_id=dr, credit_account_id=cr, amount=amount, **kw)

    @staticmethod
    def resolve(tid: int, pending_id: int, amount: int, flags: int, **kw: Any) -> Transfer:
        fields: dict[str, Any] = {"debit_account_id": 0, "credit_account_id": 0, "ledger": 0, "code": 0, **kw}
        return Transfer(id=tid, amount=amount, flags=flags, pending_id=pending_id, **fields)

    def post(self, tid: int, pending_id: int, amount: int = 0, **kw: Any) -> Transfer:
        flags = TransferFlags.POST_PENDING_TRANSFER | kw.pop("flags", 0)
        return self.resolve(tid, pending_id, amount, flags, **kw)

    def void(self, tid: int, pending_id: int, amount: int = 0, **kw: Any) -> Transfer:
        flags = TransferFlags.VOID_PENDING_TRANSFER | kw.pop("flags", 0)
        return self.resolve(tid, pending_id, amount, flags, **kw)

    def one(self, t: Transfer) -> str:
        return self.ledger.create_transfers([t])[0]

    def counters(self, account_id: int) -> tuple[int, int, int, int]:
        """(debits_pending, debits_posted, credits_pending, credits_posted)."""
        (a,) = self.ledger.lookup_accounts([account_id])
        return a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted

    def all_counters(self, *ids: int) -> dict[int, tuple[int, int, int, int]]:
        return {i: self.counters(i) for i in ids}

    def flags(self, account_id: int) -> int:
        return self.ledger.lookup_accounts([account_id])[0].flags

    def closed(self, account_id: int) -> bool:
        return bool(self.flags(account_id) & AccountFlags.CLOSED)


@pytest.fixture(name="bank")
def bank_fixture(ledger: LedgerService, store: LedgerStoreBase) -> Bank:
    return Bank(ledger, store)


@pytest.fixture(autouse=True)
def ledger_verifies(store: LedgerStoreBase) -> Iterator[None]:
    """After every scenario the ledger must be consistent (counters = sums of transfers, debits = credits)."""
    yield
    report = store.verify()
    assert report.ok, report.problems
