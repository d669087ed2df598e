"""SQLite finds an account's transfers through generations of ``ledger_postings``, then the transfers newer than them.

With the fold threshold lowered to a handful of transfers, every look-up crosses several generations and the newer
transfers: whatever the filter, the answer must be exactly what a brute-force scan of all transfers gives.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from pocketbank.domain.ledger import Account, CreateTransferResult, Transfer
from pocketbank.domain.ledger.queries import AccountFilter
from pocketbank.storage import ledger_sqlite
from pocketbank.storage.engine import open_ledger_store

LEDGER = 1
ACCOUNTS = list(range(1, 7))


def test_look_ups_across_folds_match_a_brute_force_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_sqlite, "FOLD_AT", 5)
    store = open_ledger_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        store.create_accounts([[Account(a, LEDGER, 1) for a in ACCOUNTS]], 1)
        rng = random.Random(7)
        made: list[Transfer] = []
        next_id = itertools.count(100)
        for size in (1, 3, 7, 2, 11, 4, 6, 1, 9, 3):  # crossing the threshold at different points, then 3 recent
            batch = []
            for _ in range(size):
                debit, credit = rng.sample(ACCOUNTS, 2)
                batch.append(Transfer(next(next_id), debit, credit, rng.randint(1, 50), LEDGER, rng.choice((1, 2))))
            outcome = store.create_transfers([batch], 1_000)
            assert outcome.results == [[CreateTransferResult.OK] * size]
            made.extend(batch)
        with ledger_sqlite.connect(str(tmp_path / "ledger.db")) as conn:
            generations = conn.execute("SELECT count(*) FROM ledger_posting_generations").fetchone()[0]
            folded = "SELECT max(last_timestamp) FROM ledger_posting_generations"
            recent = conn.execute(f"SELECT count(*) FROM ledger_transfers WHERE timestamp > ({folded})").fetchone()[0]
            bounds = conn.execute(
                "SELECT first_timestamp, last_timestamp FROM ledger_posting_generations ORDER BY generation"
            ).fetchall()
        assert (generations, recent) == (4, 3)  # the look-ups below cross four folds and the recent rows

        stored = {t.id: t for t in store.lookup_transfers([t.id for t in made])}
        ordered = sorted(stored.values(), key=lambda t: (t.timestamp, t.id))
        middle = ordered[len(ordered) // 3].timestamp, ordered[2 * len(ordered) // 3].timestamp
        # Windows whose ends fall exactly on the first and last transfers of generations, where an off-by-one in
        # choosing the generations to read would show.
        edges = [(bounds[0][1], bounds[1][0]), (bounds[1][0], bounds[1][0]), (bounds[2][1], bounds[2][1])]
        edges.append((bounds[3][1], ordered[-1].timestamp))  # the last fold and the recent rows
        for account, (debits, credits), rev, limit, window, code in itertools.product(
            ACCOUNTS,
            ((True, True), (True, False), (False, True)),
            (False, True),
            (3, 100),
            ((0, 0), middle, *edges),
            (0, 2),
        ):
            f = AccountFilter(account, window[0], window[1], limit, debits, credits, rev, code)
            expected = [
                t
                for t in ordered
                if ((debits and t.debit_account_id == account) or (credits and t.credit_account_id == account))
                and (not f.timestamp_min or t.timestamp >= f.timestamp_min)
                and (not f.timestamp_max or t.timestamp <= f.timestamp_max)
                and (not code or t.code == code)
            ]
            if rev:
                expected.reverse()
            assert store.account_transfers(f) == expected[:limit], f
        assert store.verify().ok
    finally:
        store.close()


_OLD_LAYOUT = (
    "CREATE TABLE postings_with_ids (generation INTEGER NOT NULL, account_id BLOB NOT NULL, timestamp BIGINT NOT NULL, "
    "transfer_id BLOB NOT NULL, PRIMARY KEY (generation, account_id, timestamp, transfer_id)) WITHOUT ROWID",
    "INSERT INTO postings_with_ids SELECT p.generation, p.account_id, p.timestamp, t.id "
    "FROM ledger_postings p JOIN ledger_transfers t ON t.timestamp = p.timestamp",
    "DROP TABLE ledger_postings",
    "ALTER TABLE postings_with_ids RENAME TO ledger_postings",
    "DROP INDEX ix_ledger_transfers_recent",
    "CREATE TABLE ledger_transfers_recent (transfer_id BLOB NOT NULL, debit_account_id BLOB NOT NULL, "
    "credit_account_id BLOB NOT NULL, timestamp BIGINT NOT NULL)",
    "INSERT INTO ledger_transfers_recent SELECT id, debit_account_id, credit_account_id, timestamp "
    "FROM ledger_transfers WHERE timestamp > (SELECT max(last_timestamp) FROM ledger_posting_generations)",
    "CREATE TRIGGER ledger_transfers_recent_insert AFTER INSERT ON ledger_transfers BEGIN "
    "INSERT INTO ledger_transfers_recent (transfer_id, debit_account_id, credit_account_id, timestamp) "
    "VALUES (new.id, new.debit_account_id, new.credit_account_id, new.timestamp); END",
    "UPDATE alembic_version SET version_num = '0003'",
)


def test_a_ledger_with_the_old_recent_table_is_migrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Revision 0004: the recent table and its trigger give way to the timestamp index, the postings lose their
    transfer ids, no transfer is lost from the look-ups, and folding goes on from where the old layout left it."""
    monkeypatch.setattr(ledger_sqlite, "FOLD_AT", 5)
    path = tmp_path / "ledger.db"
    store = open_ledger_store(f"sqlite:///{path}")
    ids = itertools.count(100)
    try:
        store.create_accounts([[Account(a, LEDGER, 1) for a in ACCOUNTS]], 1)
        for size in (6, 3):  # one fold, then three newer transfers
            batch = [Transfer(next(ids), 1 + i % 3, 4 + i % 3, 10 + i, LEDGER, 1) for i in range(size)]
            assert store.create_transfers([batch], 1_000).results == [[CreateTransferResult.OK] * size]
    finally:
        store.close()
    with ledger_sqlite.connect(str(path)) as conn:
        for statement in _OLD_LAYOUT:
            conn.execute(statement)
        assert conn.execute("SELECT count(*) FROM ledger_transfers_recent").fetchone()[0] == 3

    store = open_ledger_store(f"sqlite:///{path}")  # upgrades the schema
    try:
        with ledger_sqlite.connect(str(path)) as conn:
            objects = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            version = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        assert "ledger_transfers_recent" not in objects
        assert "ledger_transfers_recent_insert" not in objects
        assert "ix_ledger_transfers_recent" in objects
        assert "postings_with_ids" not in objects
        with ledger_sqlite.connect(str(path)) as conn:
            columns = [r[1] for r in conn.execute("PRAGMA table_info(ledger_postings)")]
            assert columns == ["generation", "account_id", "timestamp"]
            assert conn.execute("SELECT count(*) FROM ledger_postings").fetchone()[0] == 12  # the fold of 6
        assert version >= "0004"
        everything = AccountFilter(1, limit=100)
        assert [t.id for t in store.account_transfers(everything)] == [100, 103, 106]
        batch = [Transfer(next(ids), 1, 4, 5, LEDGER, 1) for _ in range(3)]  # 6 unfolded: the next batch folds
        assert store.create_transfers([batch], 2_000).results == [[CreateTransferResult.OK] * 3]
        assert [t.id for t in store.account_transfers(everything)] == [100, 103, 106, 109, 110, 111]
        with ledger_sqlite.connect(str(path)) as conn:
            assert conn.execute("SELECT count(*) FROM ledger_posting_generations").fetchone()[0] == 2
        assert store.verify().ok
    finally:
        store.close()
