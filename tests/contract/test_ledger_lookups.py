"""Contract: look-ups, paging, balance history, durability settings, and the database's own guard rails.

The guard-rail tests reach past the store with raw SQL on a separate connection: the CHECK constraints must refuse
what the state machine would never write, and ``verify()`` must notice a counter changed behind its back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from ledger_contract_support import bank_fixture, ledger_verifies  # noqa: F401  (fixtures)

from pocketbank.domain.ledger import AMOUNT_MAX, AccountFlags, CreateTransferResult, TransferFlags
from pocketbank.domain.ledger.queries import AccountFilter

R = CreateTransferResult
F = TransferFlags
BANK, ALICE, BOB = 1, 2, 3
CODE = 10


@pytest.fixture
def journal(bank, clock):
    """Seven transfers touching ALICE (and one that does not), one second apart, with two codes."""
    bank.open(BANK, ALICE, BOB)
    plan = [
        (101, BANK, ALICE, 10, 10),
        (102, ALICE, BOB, 1, 20),
        (103, BOB, BANK, 1, 10),  # not ALICE's
        (104, BANK, ALICE, 5, 20),
        (105, ALICE, BANK, 2, 10),
        (106, BOB, ALICE, 1, 10),
        (107, ALICE, BOB, 3, 20),
        (108, BANK, ALICE, 4, 10),
    ]
    for tid, dr, cr, amount, code in plan:
        assert bank.one(bank.t(tid, dr, cr, amount, code=code)) == R.OK
        clock.advance(1)
    return bank


def _ids(transfers) -> list[int]:
    return [t.id for t in transfers]


ALICE_IDS = [101, 102, 104, 105, 106, 107, 108]


def test_account_transfers_order_and_filters(journal):
    lt = journal.ledger.account_transfers
    found = lt(AccountFilter(ALICE))
    assert _ids(found) == ALICE_IDS
    stamps = [t.timestamp for t in found]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)
    assert _ids(lt(AccountFilter(ALICE, reversed=True))) == ALICE_IDS[::-1]
    assert _ids(lt(AccountFilter(ALICE, credits=False))) == [102, 105, 107]
    assert _ids(lt(AccountFilter(ALICE, debits=False))) == [101, 104, 106, 108]
    assert lt(AccountFilter(ALICE, debits=False, credits=False)) == []
    assert _ids(lt(AccountFilter(ALICE, code=20))) == [102, 104, 107]
    assert _ids(lt(AccountFilter(ALICE, code=20, debits=False))) == [104]
    assert _ids(lt(AccountFilter(ALICE, limit=2))) == [101, 102]
    assert _ids(lt(AccountFilter(ALICE, timestamp_min=stamps[2], timestamp_max=stamps[4]))) == [104, 105, 106]
    assert lt(AccountFilter(999)) == []


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 8])
def test_paging_has_no_gaps_or_duplicates(journal, limit):
    lt = journal.ledger.account_transfers
    seen: list[int] = []
    cursor = 0
    while True:
        page = lt(AccountFilter(ALICE, timestamp_min=cursor, limit=limit))
        assert len(page) <= limit
        if not page:
            break
        seen += _ids(page)
        cursor = page[-1].timestamp + 1
    assert seen == ALICE_IDS
    seen = []
    cursor = 0
    while True:
        page = lt(AccountFilter(ALICE, timestamp_max=cursor, limit=limit, reversed=True))
        if not page:
            break
        seen += _ids(page)
        cursor = page[-1].timestamp - 1
    assert seen == ALICE_IDS[::-1]


def test_lookup_of_unknown_ids_returns_nothing(journal):
    assert journal.ledger.lookup_accounts([999, 0, -1, 2**128, 2**128 - 1]) == []
    assert journal.ledger.lookup_transfers([999, 0, -1, 2**128, 2**128 - 1]) == []
    assert _ids(journal.ledger.lookup_transfers([108, 999, 101])) == [108, 101]
    assert [a.id for a in journal.ledger.lookup_accounts([BOB, 999, ALICE])] == [BOB, ALICE]
    assert journal.ledger.pending_state(999) is None


def test_history_and_balance_at(bank, clock):
    bank.open(BANK, BOB)
    bank.open(ALICE, flags=AccountFlags.HISTORY | AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
    before_any = clock.now_ns() - 1
    steps = [
        bank.t(1, BANK, ALICE, 50),
        bank.t(2, ALICE, BOB, 20, flags=F.PENDING),
        bank.post(3, 2, 15),
        bank.t(4, ALICE, BOB, 5),
        bank.t(5, BANK, BOB, 7),  # does not touch ALICE
    ]
    snapshots = []
    for event in steps:
        clock.advance(1)
        assert bank.one(event) == R.OK
        snapshots.append((bank.ledger.lookup_transfers([event.id])[0].timestamp, bank.counters(ALICE)))
    history = bank.ledger.account_balances(AccountFilter(ALICE))
    assert [h.transfer_id for h in history] == [1, 2, 3, 4]
    assert [(h.debits_pending, h.debits_posted, h.credits_pending, h.credits_posted) for h in history] == [
        c for _, c in snapshots[:4]
    ]
    assert bank.ledger.balance_at(ALICE, before_any) is None
    for ts, counters in snapshots:
        at = bank.ledger.balance_at(ALICE, ts)
        assert (at.debits_pending, at.debits_posted, at.credits_pending, at.credits_posted) == counters
        if ts > snapshots[0][0]:
            earlier = bank.ledger.balance_at(ALICE, ts - 1)
            assert earlier.timestamp < ts
    assert bank.ledger.balance_at(ALICE, snapshots[1][0]).balance == 50
    with pytest.raises(ValueError, match="history"):
        bank.ledger.balance_at(BOB, snapshots[-1][0])


def test_durability_settings(store):
    settings = store.durability_settings()
    if store.engine == "sqlite":
        assert settings == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1}
    else:
        assert store.engine == "postgres"
        assert settings["fsync"] == "on"
        assert settings["synchronous_commit"] == "on"
        assert settings["full_page_writes"] == "on"


# -- guard rails below the state machine --------------------------------------------------------------------


@contextmanager
def raw(store, db_url: str) -> Iterator[tuple[Any, str, type[Exception]]]:
    """A separate raw connection to the same database: (connection, placeholder, CHECK-violation exception)."""
    if store.engine == "sqlite":
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            yield conn, "?", sqlite3.IntegrityError
        finally:
            conn.close()
    else:
        with psycopg.connect(db_url, autocommit=True) as conn:
            yield conn, "%s", psycopg.errors.CheckViolation


def _b(i: int, width: int = 16) -> bytes:
    return i.to_bytes(width, "big")


def _insert_transfer(conn, p: str, tid: int, amount: int, flags: int = 0) -> None:
    conn.execute(
        "INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, pending_id, ledger, code, "
        f"flags, timeout, user_data_128, user_data_64, user_data_32, timestamp) VALUES ({', '.join([p] * 13)})",
        (_b(tid), _b(BANK), _b(ALICE), amount, None, 1, 10, flags, 0, _b(0), _b(0, 8), 0, 1),
    )


@pytest.mark.parametrize("amount", [0, -1])
def test_check_constraint_refuses_non_positive_amounts(bank, store, db_url, amount):
    bank.open(BANK, ALICE)
    with raw(store, db_url) as (conn, p, check_violation):
        with pytest.raises(check_violation, match=r"(?i)check|ck_transfer_amount_positive"):
            _insert_transfer(conn, p, 77, amount)
        with pytest.raises(check_violation):
            _insert_transfer(conn, p, 78, amount, flags=F.PENDING)
    assert store.verify().transfers == 0


def test_check_constraint_refuses_overdrawn_limited_account(bank, store, db_url):
    bank.open(BANK)
    bank.open(ALICE, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
    assert bank.one(bank.t(1, BANK, ALICE, 10)) == R.OK
    with raw(store, db_url) as (conn, p, check_violation):
        for sql in (
            "UPDATE ledger_accounts SET debits_posted = credits_posted + 1 WHERE id = {p}",
            "UPDATE ledger_accounts SET debits_pending = 11 WHERE id = {p}",
            "UPDATE ledger_accounts SET credits_posted = -1 WHERE id = {p}",
        ):
            with pytest.raises(check_violation):
                conn.execute(sql.format(p=p), (_b(ALICE),))
    assert bank.counters(ALICE) == (0, 0, 0, 10)


def test_verify_reports_a_tampered_counter(bank, store, db_url):
    bank.open(BANK, ALICE, BOB)
    assert bank.one(bank.t(1, BANK, ALICE, 10)) == R.OK
    assert store.verify().ok
    with raw(store, db_url) as (conn, p, _):
        conn.execute(f"UPDATE ledger_accounts SET credits_posted = credits_posted + 1 WHERE id = {p}", (_b(ALICE),))
        report = store.verify()
        assert not report.ok
        assert any(f"account {ALICE}" in problem for problem in report.problems), report.problems
        assert any(problem.startswith("ledger 1") for problem in report.problems), report.problems
        # Restore it: the autouse check then confirms verify() is clean again.
        conn.execute(f"UPDATE ledger_accounts SET credits_posted = credits_posted - 1 WHERE id = {p}", (_b(ALICE),))
    assert store.verify().ok


def test_a_batch_mixing_plain_and_detailed_transfers_stores_every_field(bank, store):
    """Most transfers carry no pending id, timeout or user data, and the stores write those with fewer bound
    columns; a batch that mixes them with detailed ones must still read back field for field."""
    bank.open(BANK, ALICE, BOB)
    batch = [
        bank.t(201, BANK, ALICE, 50),
        bank.t(202, BANK, BOB, 7, user_data_128=2**128 - 2, user_data_64=2**64 - 1, user_data_32=2**32 - 1),
        bank.t(203, ALICE, BOB, 3, flags=F.PENDING, timeout=3600),
        bank.t(204, BOB, ALICE, 1, user_data_32=9),
        bank.post(205, 203, 2),
        bank.t(206, ALICE, BANK, 4),
    ]
    assert bank.ledger.create_transfers(batch) == [R.OK] * len(batch)
    stored = {t.id: t for t in store.lookup_transfers([t.id for t in batch])}
    for sent in batch:
        if sent.flags & F.POST_PENDING_TRANSFER:
            continue  # a post takes what it leaves at zero from its pending transfer: checked below
        got = stored[sent.id]
        for field in ("user_data_128", "user_data_64", "user_data_32", "timeout", "pending_id", "flags", "code"):
            assert getattr(got, field) == getattr(sent, field), (sent.id, field)
    post = stored[205]
    assert (post.pending_id, post.amount, post.code, post.debit_account_id) == (203, 2, CODE, ALICE)
    assert stored[201].amount == 50
    assert len({t.timestamp for t in stored.values()}) == len(batch)


def test_one_batch_finds_both_existing_and_failed_ids(bank):
    """The batch's look-up of earlier ids answers for transfers and failed ids together."""
    bank.open(BANK, ALICE, BOB)
    bank.open(LIMITED := 9, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
    assert bank.one(bank.t(301, BANK, ALICE, 10)) == R.OK
    assert bank.one(bank.t(302, LIMITED, BOB, 10)) == R.EXCEEDS_CREDITS
    again = [bank.t(301, BANK, ALICE, 10), bank.t(302, LIMITED, BOB, 10), bank.t(303, ALICE, BOB, 1)]
    assert bank.ledger.create_transfers(again) == [R.EXISTS, R.ID_ALREADY_FAILED, R.OK]


def test_verify_adds_up_a_ledger_whose_totals_pass_64_bits(bank, store):
    """Each counter fits in 64 bits, a ledger's total need not: two accounts each debited the maximum. The
    per-ledger balance check must add them exactly (SQLite's SUM stops with "integer overflow" past 2**63)."""
    carol = 4
    bank.open(BANK, ALICE, BOB, carol)
    assert bank.one(bank.t(401, BANK, ALICE, AMOUNT_MAX)) == R.OK
    assert bank.one(bank.t(402, BOB, carol, AMOUNT_MAX)) == R.OK
    report = store.verify()
    assert report.ok, report.problems
    assert report.transfers == 2
