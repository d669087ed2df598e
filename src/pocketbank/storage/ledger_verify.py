"""Recompute the ledger's invariants from the journal, independently of the counters the writer maintains.

Checked, with plain SQL that is the same on both engines:

- per ledger, the sum of posted debits equals the sum of posted credits, and likewise for pending;
- every account's four counters equal the sums of its transfers: posted counters from every transfer that is not
  itself pending (single-phase transfers and posts), pending counters from pending transfers still pending;
- no account breaks its limit flag; no transfer has a non-positive amount outside the closing exception;
- every transfer refers to accounts that exist (the foreign key the hot path does without);
- on SQLite, every transfer can be found from both of its accounts (``verify_postings``).

A problem is reported as a line of text; an empty list means the ledger is consistent.
"""

from __future__ import annotations

from typing import Any

from pocketbank.domain.ledger.queries import VerifyReport
from pocketbank.storage.schema import FOLDED_UNTIL

_SUMS = """
WITH moves AS (
    SELECT t.debit_account_id AS account_id,
           CASE WHEN (t.flags & 2) = 0 THEN t.amount ELSE 0 END AS debits_posted,
           CASE WHEN (t.flags & 2) <> 0 AND p.status = 1 THEN t.amount ELSE 0 END AS debits_pending,
           0 AS credits_posted, 0 AS credits_pending
    FROM ledger_transfers t LEFT JOIN ledger_pending p ON p.id = t.id
    WHERE (t.flags & 8) = 0
    UNION ALL
    SELECT t.credit_account_id,
           0, 0,
           CASE WHEN (t.flags & 2) = 0 THEN t.amount ELSE 0 END,
           CASE WHEN (t.flags & 2) <> 0 AND p.status = 1 THEN t.amount ELSE 0 END
    FROM ledger_transfers t LEFT JOIN ledger_pending p ON p.id = t.id
    WHERE (t.flags & 8) = 0
),
sums AS (
    SELECT account_id, SUM(debits_posted) AS dpo, SUM(debits_pending) AS dp,
           SUM(credits_posted) AS cpo, SUM(credits_pending) AS cp
    FROM moves GROUP BY account_id
)
SELECT a.id, a.debits_posted, a.debits_pending, a.credits_posted, a.credits_pending,
       COALESCE(s.dpo, 0), COALESCE(s.dp, 0), COALESCE(s.cpo, 0), COALESCE(s.cp, 0)
FROM ledger_accounts a LEFT JOIN sums s ON s.account_id = a.id
WHERE a.debits_posted <> COALESCE(s.dpo, 0) OR a.debits_pending <> COALESCE(s.dp, 0)
   OR a.credits_posted <> COALESCE(s.cpo, 0) OR a.credits_pending <> COALESCE(s.cp, 0)
"""

# A ledger's total can pass 2**63 (each counter is at most 2**63 - 1, and there are many accounts), where SQLite's
# SUM fails with "integer overflow". So each counter is summed as its high and low 32-bit halves, sums that cannot
# overflow before 2**31 accounts, and the halves are joined exactly in Python; the same SQL on both engines.
_COUNTERS = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")
_LEDGERS = (
    "SELECT ledger, "  # noqa: S608 (column names from the constant above)
    + ", ".join(f"SUM({c} >> 32), SUM({c} & 4294967295)" for c in _COUNTERS)
    + " FROM ledger_accounts GROUP BY ledger"
)

_LIMITS = """
SELECT id FROM ledger_accounts
WHERE ((flags & 2) <> 0 AND debits_pending + debits_posted > credits_posted)
   OR ((flags & 4) <> 0 AND credits_pending + credits_posted > debits_posted)
"""

_REFERENCES = """
SELECT t.id FROM ledger_transfers t
WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.id = t.debit_account_id)
   OR NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.id = t.credit_account_id)
"""

_AMOUNTS = "SELECT id, amount FROM ledger_transfers WHERE amount < 0 OR (amount = 0 AND (flags & 204) = 0)"


def verify_ledger(cur: Any) -> VerifyReport:
    problems: list[str] = []
    cur.execute(_LEDGERS)
    for ledger, *halves in cur.fetchall():
        dpo, cpo, dp, cp = (int(hi) * 2**32 + int(lo) for hi, lo in zip(halves[::2], halves[1::2], strict=True))
        if dpo != cpo or dp != cp:
            problems.append(f"ledger {ledger}: debits {dpo}/{dp} != credits {cpo}/{cp} (posted/pending)")
    cur.execute(_SUMS)
    for row in cur.fetchall():
        account = int.from_bytes(row[0], "big")
        problems.append(f"account {account}: counters {tuple(row[1:5])} != sums of its transfers {tuple(row[5:9])}")
    cur.execute(_LIMITS)
    problems.extend(f"account {int.from_bytes(r[0], 'big')}: breaks its limit flag" for r in cur.fetchall())
    cur.execute(_REFERENCES)
    problems.extend(f"transfer {int.from_bytes(r[0], 'big')}: refers to a missing account" for r in cur.fetchall())
    cur.execute(_AMOUNTS)
    problems.extend(f"transfer {int.from_bytes(r[0], 'big')}: amount {r[1]}" for r in cur.fetchall())
    cur.execute("SELECT COUNT(*) FROM ledger_accounts")
    accounts = cur.fetchone()[0]
    cur.execute("SELECT COUNT(*) FROM ledger_transfers")
    transfers = cur.fetchone()[0]
    return VerifyReport(accounts=accounts, transfers=transfers, problems=tuple(problems))


# SQLite's account look-up index must hold each transfer exactly once per account it touches, as two rows of
# ledger_postings, once the transfer is folded: once it is no newer than the last generation. A posting names its
# transfer by timestamp, so timestamps must be unique. Checked as: no two transfers share a timestamp; every posting
# matches its transfer; each posting lies in its generation's range and the ranges increase (look-ups read
# generations in order, then the newer transfers), so a transfer's postings are all in one generation and the
# postings' primary key leaves at most one row per transfer and side; and the rows add up to two per folded
# transfer. Joins by key rather than a set difference: six times faster on a large ledger.
_POSTINGS = f"""
SELECT
  (SELECT COUNT(*) FROM ledger_transfers WHERE timestamp <= ({FOLDED_UNTIL})),
  (SELECT COUNT(*) FROM ledger_postings),
  (SELECT COUNT(*) FROM ledger_postings p JOIN ledger_transfers t ON t.timestamp = p.timestamp
   WHERE p.account_id = t.debit_account_id OR p.account_id = t.credit_account_id),
  (SELECT COUNT(*) - COUNT(DISTINCT timestamp) FROM ledger_transfers)
"""  # noqa: S608 (FOLDED_UNTIL: a constant subquery from schema.py)
_ORDER = """
SELECT
  (SELECT COUNT(*) FROM ledger_postings p LEFT JOIN ledger_posting_generations g ON g.generation = p.generation
   WHERE g.generation IS NULL OR p.timestamp < g.first_timestamp OR p.timestamp > g.last_timestamp),
  (SELECT COUNT(*) FROM ledger_posting_generations a LEFT JOIN ledger_posting_generations b
   ON b.generation = (SELECT MIN(generation) FROM ledger_posting_generations WHERE generation > a.generation)
   WHERE a.first_timestamp > a.last_timestamp OR b.first_timestamp <= a.last_timestamp)
"""


def verify_postings(cur: Any) -> list[str]:
    problems = []
    cur.execute(_POSTINGS)
    folded, postings, postings_ok, shared_timestamps = cur.fetchone()
    if shared_timestamps:
        problems.append(f"account look-up index: {shared_timestamps} transfers share a timestamp with another")
    if postings_ok != postings:
        problems.append(f"account look-up index: {postings - postings_ok} postings match no transfer")
    if postings != 2 * folded:
        problems.append(f"account look-up index: {postings} entries for {2 * folded} postings")
    cur.execute(_ORDER)
    outside, overlapping = cur.fetchone()
    if outside:
        problems.append(f"account look-up index: {outside} postings outside their generation")
    if overlapping:
        problems.append(f"account look-up index: {overlapping} generations overlap the next")
    return problems
