"""SQLite skips the look-up of a batch's ids when all of them are above the highest id it has stored.

The skip is only sound while the store's idea of "the highest id" is never too low: after its own commits, after a
rollback, and after another connection (another process) has written. Each test below would answer ``ok`` for a
transfer that already exists, or for an id that already failed, if that idea went stale.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pocketbank.domain.ledger import Account, AccountFlags, CreateTransferResult, Transfer
from pocketbank.domain.ledger.model import U128_MAX
from pocketbank.storage.engine import open_ledger_store
from pocketbank.storage.ledger_codec import sorted_valid_ids
from pocketbank.storage.ledger_sqlite import SqliteLedgerStore

R = CreateTransferResult
LEDGER = 1
A, B, POOR = 1, 2, 3


@pytest.fixture
def path(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def store(path: str) -> Iterator[SqliteLedgerStore]:
    s = open_ledger_store(path)
    assert isinstance(s, SqliteLedgerStore)
    s.create_accounts([[Account(A, LEDGER, 1), Account(B, LEDGER, 1)]], 1)
    s.create_accounts([[Account(POOR, LEDGER, 1, AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)]], 1)
    try:
        yield s
    finally:
        s.close()


def pay(transfer_id: int, amount: int = 10, debit: int = A) -> Transfer:
    return Transfer(transfer_id, debit, B, amount, LEDGER, 1)


def submit(store: SqliteLedgerStore, *transfers: Transfer) -> list[CreateTransferResult]:
    return store.create_transfers([list(transfers)], 1_000).results[0]


def credited(store: SqliteLedgerStore) -> int:
    return store.lookup_accounts([B])[0].credits_posted


def look_ups(store: SqliteLedgerStore) -> list[str]:
    """Start recording the writer's look-ups of existing ids (the statement that reads ledger_failed)."""
    seen: list[str] = []
    assert store._writer is not None
    store._writer.set_trace_callback(lambda sql: seen.append(sql) if "FROM ledger_failed WHERE id IN" in sql else None)
    return seen


def test_increasing_ids_skip_the_look_up_and_retries_still_find_theirs(store: SqliteLedgerStore) -> None:
    assert submit(store, pay(10), pay(11)) == [R.OK, R.OK]
    seen = look_ups(store)
    assert submit(store, pay(12), pay(13)) == [R.OK, R.OK]
    assert seen == []  # every id above the highest stored: nothing to look up
    # A retry, alone or beside a new id, is looked up and found: same fields exist, different ones say so.
    assert submit(store, pay(11)) == [R.EXISTS]
    assert submit(store, pay(14), pay(12, amount=99)) == [R.OK, R.EXISTS_WITH_DIFFERENT_AMOUNT]
    assert len(seen) == 2
    assert credited(store) == 50


def test_a_failed_id_below_the_highest_stays_failed(store: SqliteLedgerStore) -> None:
    assert submit(store, pay(20, debit=POOR)) == [R.EXCEEDS_CREDITS]
    assert submit(store, pay(30)) == [R.OK]
    assert submit(store, pay(20)) == [R.ID_ALREADY_FAILED]  # now fundable, but the id failed once
    # And a failed id that is itself the highest one stored.
    assert submit(store, pay(40, debit=POOR)) == [R.EXCEEDS_CREDITS]
    assert submit(store, pay(40)) == [R.ID_ALREADY_FAILED]
    # And one that is the highest of a batch whose other ids applied.
    assert submit(store, pay(41), pay(42, debit=POOR)) == [R.OK, R.EXCEEDS_CREDITS]
    assert submit(store, pay(42)) == [R.ID_ALREADY_FAILED]


def test_another_connections_writes_are_seen(store: SqliteLedgerStore, path: str) -> None:
    assert submit(store, pay(50)) == [R.OK]
    other = open_ledger_store(path)
    try:
        # Higher ids than this store has seen, written by someone else: one applied, one failed.
        assert other.create_transfers([[pay(60), pay(61, debit=POOR)]], 1_000).results[0] == [
            R.OK,
            R.EXCEEDS_CREDITS,
        ]
    finally:
        other.close()
    assert submit(store, pay(60), pay(61)) == [R.EXISTS, R.ID_ALREADY_FAILED]
    assert credited(store) == 20
    assert store.verify().ok


def test_a_rolled_back_batch_leaves_nothing_to_skip_wrongly(store: SqliteLedgerStore) -> None:
    assert submit(store, pay(70)) == [R.OK]

    def crash() -> None:
        raise RuntimeError("the process died before the commit")

    with pytest.raises(RuntimeError):
        store.create_transfers([[pay(80)]], 1_000, before_commit=crash)
    assert submit(store, pay(75), pay(80)) == [R.OK, R.OK]  # 80 was never stored
    assert submit(store, pay(80), pay(90)) == [R.EXISTS, R.OK]
    assert credited(store) == 40


def test_ids_a_row_cannot_have_are_trimmed_from_both_ends() -> None:
    assert sorted_valid_ids({U128_MAX, 5, 0, -3, 2**130, 1, U128_MAX - 1}) == [1, 5, U128_MAX - 1]
    assert sorted_valid_ids({0, U128_MAX}) == []
    assert sorted_valid_ids(set()) == []
