"""Contract: accounts, single-phase transfers, refusals, limits, overflow, linked chains and batches.

Runs on every engine (``db_url`` is parametrized). A refusal must change nothing: no counter moves, the id is not
found, and only *transient* refusals leave a failed-id record behind.
"""

from __future__ import annotations

import pytest
from ledger_contract_support import bank_fixture, ledger_verifies  # noqa: F401  (fixtures)

from pocketbank.domain.ledger import (
    AMOUNT_MAX,
    TRANSIENT_TRANSFER_RESULTS,
    U128_MAX,
    Account,
    AccountFlags,
    CreateAccountResult,
    CreateTransferResult,
    Transfer,
    TransferFlags,
)

A = CreateAccountResult
R = CreateTransferResult
F = TransferFlags
DMNEC = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
CMNED = AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS

BANK, ALICE, BOB, OTHER_LEDGER = 1, 2, 3, 4


@pytest.fixture
def funded(bank):
    """BANK (no limits) funds ALICE (may not overdraw) with 100; BOB is a plain account; OTHER_LEDGER is on ledger 2."""
    bank.open(BANK, BOB)
    bank.open(ALICE, flags=DMNEC)
    bank.open(OTHER_LEDGER, ledger=2)
    assert bank.one(bank.t(900, BANK, ALICE, 100)) == R.OK
    return bank


# -- accounts -------------------------------------------------------------------------------------------------


def test_create_account_ok_and_exists(ledger):
    acc = Account(7, 1, 10, AccountFlags.HISTORY, user_data_128=5, user_data_64=6, user_data_32=7)
    assert ledger.create_accounts([acc]) == [A.OK]
    assert ledger.create_accounts([acc]) == [A.EXISTS]
    (stored,) = ledger.lookup_accounts([7])
    assert (stored.ledger, stored.code, stored.flags, stored.user_data_128) == (1, 10, AccountFlags.HISTORY, 5)
    assert (stored.debits_pending, stored.debits_posted, stored.credits_pending, stored.credits_posted) == (0, 0, 0, 0)
    assert stored.timestamp > 0


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"flags": DMNEC}, A.EXISTS_WITH_DIFFERENT_FLAGS),
        ({"user_data_128": 1}, A.EXISTS_WITH_DIFFERENT_USER_DATA_128),
        ({"user_data_64": 1}, A.EXISTS_WITH_DIFFERENT_USER_DATA_64),
        ({"user_data_32": 1}, A.EXISTS_WITH_DIFFERENT_USER_DATA_32),
        ({"ledger": 2}, A.EXISTS_WITH_DIFFERENT_LEDGER),
        ({"code": 11}, A.EXISTS_WITH_DIFFERENT_CODE),
    ],
)
def test_create_account_exists_with_different(ledger, changes, code):
    assert ledger.create_accounts([Account(7, 1, 10)]) == [A.OK]
    fields = {"id": 7, "ledger": 1, "code": 10, **changes}
    assert ledger.create_accounts([Account(**fields)]) == [code]
    (stored,) = ledger.lookup_accounts([7])
    assert (stored.ledger, stored.code, stored.flags, stored.user_data_32) == (1, 10, 0, 0)


@pytest.mark.parametrize(
    ("account", "code"),
    [
        (Account(7, 1, 10, DMNEC | CMNED), A.FLAGS_ARE_MUTUALLY_EXCLUSIVE),
        (Account(7, 1, 10, AccountFlags.CLOSED), A.RESERVED_FLAG),
        (Account(7, 1, 10, 1 << 4), A.RESERVED_FLAG),
        (Account(7, 1, 10, 1 << 15), A.RESERVED_FLAG),
        (Account(7, 1, 10, -2), A.RESERVED_FLAG),
        (Account(0, 1, 10), A.ID_MUST_NOT_BE_ZERO),
        (Account(U128_MAX, 1, 10), A.ID_MUST_NOT_BE_INT_MAX),
        (Account(-1, 1, 10), A.ID_OUT_OF_RANGE),
        (Account(2**128, 1, 10), A.ID_OUT_OF_RANGE),
        (Account(7, 0, 10), A.LEDGER_MUST_NOT_BE_ZERO),
        (Account(7, 1, 0), A.CODE_MUST_NOT_BE_ZERO),
        (Account(7, 2**32, 10), A.FIELD_OUT_OF_RANGE),
        (Account(7, 1, 10, timestamp=5), A.TIMESTAMP_MUST_BE_ZERO),
        (Account(7, 1, 10, debits_posted=1), A.DEBITS_POSTED_MUST_BE_ZERO),
        (Account(7, 1, 10, credits_pending=1), A.CREDITS_PENDING_MUST_BE_ZERO),
    ],
)
def test_create_account_refusals_write_nothing(ledger, account, code):
    assert ledger.create_accounts([account]) == [code]
    if 0 < account.id < U128_MAX:
        assert ledger.lookup_accounts([account.id]) == []
    assert ledger.verify().accounts == 0


def test_linked_account_chain_is_all_or_nothing(ledger):
    L = AccountFlags.LINKED
    chain = [Account(7, 1, 10, L), Account(8, 1, 10, L), Account(9, 0, 10)]
    assert ledger.create_accounts(chain) == [A.LINKED_EVENT_FAILED, A.LINKED_EVENT_FAILED, A.LEDGER_MUST_NOT_BE_ZERO]
    assert ledger.lookup_accounts([7, 8, 9]) == []
    # An unterminated chain: its last event answers linked_event_chain_open and nothing is created.
    assert ledger.create_accounts([Account(7, 1, 10), Account(8, 1, 10, L)]) == [A.OK, A.LINKED_EVENT_CHAIN_OPEN]
    assert [a.id for a in ledger.lookup_accounts([7, 8])] == [7]
    good = [Account(8, 1, 10, L), Account(9, 1, 10)]
    assert ledger.create_accounts(good) == [A.OK, A.OK]
    assert ledger.create_accounts(good) == [A.EXISTS, A.EXISTS]


# -- simple transfers -----------------------------------------------------------------------------------------


def test_transfer_moves_the_four_counters_exactly(funded):
    b = funded
    t = b.t(1, ALICE, BOB, 30, user_data_128=9, user_data_64=8, user_data_32=7)
    assert b.one(t) == R.OK
    assert b.counters(ALICE) == (0, 30, 0, 100)
    assert b.counters(BOB) == (0, 0, 0, 30)
    assert b.counters(BANK) == (0, 100, 0, 0)
    (stored,) = b.ledger.lookup_transfers([1])
    assert (stored.debit_account_id, stored.credit_account_id, stored.amount, stored.user_data_32) == (
        ALICE,
        BOB,
        30,
        7,
    )
    assert stored.timestamp > 0
    assert b.ledger.lookup_accounts([ALICE])[0].available == 70


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({}, R.EXISTS),
        ({"amount": 31}, R.EXISTS_WITH_DIFFERENT_AMOUNT),
        ({"debit_account_id": BANK}, R.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID),
        ({"credit_account_id": BANK}, R.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID),
        ({"flags": F.PENDING}, R.EXISTS_WITH_DIFFERENT_FLAGS),
        ({"user_data_128": 1}, R.EXISTS_WITH_DIFFERENT_USER_DATA_128),
        ({"user_data_64": 1}, R.EXISTS_WITH_DIFFERENT_USER_DATA_64),
        ({"user_data_32": 1}, R.EXISTS_WITH_DIFFERENT_USER_DATA_32),
        ({"ledger": 2}, R.EXISTS_WITH_DIFFERENT_LEDGER),
        ({"code": 11}, R.EXISTS_WITH_DIFFERENT_CODE),
    ],
)
def test_retry_answers_exists_and_changes_nothing(funded, changes, code):
    b = funded
    assert b.one(b.t(1, ALICE, BOB, 30)) == R.OK
    before = b.all_counters(BANK, ALICE, BOB)
    fields = {"id": 1, "debit_account_id": ALICE, "credit_account_id": BOB, "amount": 30, "ledger": 1, "code": 10}
    assert b.one(Transfer(**{**fields, **changes})) == code
    assert b.all_counters(BANK, ALICE, BOB) == before
    assert b.ledger.lookup_transfers([1])[0].amount == 30
    assert b.store.failed_result(1) is None


# Validation-only refusals: they depend on the event alone, so nothing at all is written.
VALIDATION_CASES = [
    ("zero amount", dict(amount=0), R.AMOUNT_MUST_NOT_BE_ZERO),
    ("negative amount", dict(amount=-1), R.AMOUNT_MUST_NOT_BE_NEGATIVE),
    ("amount beyond i64", dict(amount=2**63), R.AMOUNT_EXCEEDS_MAXIMUM),
    ("same accounts", dict(credit_account_id=ALICE), R.ACCOUNTS_MUST_BE_DIFFERENT),
    ("id zero", dict(id=0), R.ID_MUST_NOT_BE_ZERO),
    ("id int max", dict(id=U128_MAX), R.ID_MUST_NOT_BE_INT_MAX),
    ("id -1", dict(id=-1), R.ID_OUT_OF_RANGE),
    ("id 2**128", dict(id=2**128), R.ID_OUT_OF_RANGE),
    ("debit account zero", dict(debit_account_id=0), R.DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO),
    ("credit account zero", dict(credit_account_id=0), R.CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO),
    ("debit account int max", dict(debit_account_id=U128_MAX), R.DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX),
    ("pending_id on a normal transfer", dict(pending_id=900), R.PENDING_ID_MUST_BE_ZERO),
    ("timeout without pending", dict(timeout=60), R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER),
    ("reserved flag bit 8", dict(flags=1 << 8), R.RESERVED_FLAG),
    ("reserved flag bit 15", dict(flags=1 << 15), R.RESERVED_FLAG),
    ("negative flags", dict(flags=-2), R.RESERVED_FLAG),
    ("timestamp set by client", dict(timestamp=12345), R.TIMESTAMP_MUST_BE_ZERO),
    ("ledger zero", dict(ledger=0), R.LEDGER_MUST_NOT_BE_ZERO),
    ("code zero", dict(code=0), R.CODE_MUST_NOT_BE_ZERO),
    ("ledger beyond u32", dict(ledger=2**32), R.FIELD_OUT_OF_RANGE),
    (
        "pending and post",
        dict(flags=F.PENDING | F.POST_PENDING_TRANSFER, pending_id=900),
        R.FLAGS_ARE_MUTUALLY_EXCLUSIVE,
    ),
    ("post and void", dict(flags=F.RESOLVING, pending_id=900), R.FLAGS_ARE_MUTUALLY_EXCLUSIVE),
    ("closing not pending", dict(flags=F.CLOSING_DEBIT), R.CLOSING_TRANSFER_MUST_BE_PENDING),
    ("post without pending_id", dict(flags=F.POST_PENDING_TRANSFER), R.PENDING_ID_MUST_NOT_BE_ZERO),
    ("post of itself", dict(flags=F.POST_PENDING_TRANSFER, pending_id=5), R.PENDING_ID_MUST_BE_DIFFERENT),
]


@pytest.mark.parametrize(("changes", "code"), [c[1:] for c in VALIDATION_CASES], ids=[c[0] for c in VALIDATION_CASES])
def test_validation_refusal_writes_nothing(funded, changes, code):
    b = funded
    before = b.all_counters(BANK, ALICE, BOB)
    fields = {"id": 5, "debit_account_id": ALICE, "credit_account_id": BOB, "amount": 10, "ledger": 1, "code": 10}
    t = Transfer(**{**fields, **changes})
    assert code not in TRANSIENT_TRANSFER_RESULTS
    assert b.one(t) == code
    assert b.all_counters(BANK, ALICE, BOB) == before
    assert b.ledger.lookup_transfers([t.id]) == []
    assert b.store.failed_result(t.id) is None
    # Deterministic: the same event gets the same answer again, never id_already_failed.
    assert b.one(t) == code
    assert b.ledger.verify().transfers == 1


TRANSIENT_CASES = [
    ("unknown debit account", dict(debit_account_id=77), R.DEBIT_ACCOUNT_NOT_FOUND),
    ("unknown credit account", dict(credit_account_id=77), R.CREDIT_ACCOUNT_NOT_FOUND),
    ("accounts on different ledgers", dict(credit_account_id=OTHER_LEDGER), R.ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER),
    ("transfer ledger differs", dict(ledger=2), R.TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS),
    ("exceeds credits", dict(amount=101), R.EXCEEDS_CREDITS),
    ("pending not found", dict(flags=F.POST_PENDING_TRANSFER, pending_id=77), R.PENDING_TRANSFER_NOT_FOUND),
    ("pending not pending", dict(flags=F.VOID_PENDING_TRANSFER, pending_id=900), R.PENDING_TRANSFER_NOT_PENDING),
]


@pytest.mark.parametrize(("changes", "code"), [c[1:] for c in TRANSIENT_CASES], ids=[c[0] for c in TRANSIENT_CASES])
def test_transient_refusal_records_the_failed_id(funded, changes, code):
    b = funded
    before = b.all_counters(BANK, ALICE, BOB)
    fields = {"id": 5, "debit_account_id": ALICE, "credit_account_id": BOB, "amount": 10, "ledger": 1, "code": 10}
    t = Transfer(**{**fields, **changes})
    assert code in TRANSIENT_TRANSFER_RESULTS
    assert b.one(t) == code
    assert b.all_counters(BANK, ALICE, BOB) == before
    assert b.ledger.lookup_transfers([5]) == []
    assert b.store.failed_result(5) == code
    # The state that made it fail goes away (account created, funds arrive): it must stay failed.
    b.ledger.create_accounts([Account(77, 1, 10)])
    assert b.one(b.t(901, BANK, ALICE, 1000)) == R.OK
    assert b.one(t) == R.ID_ALREADY_FAILED
    assert b.one(b.t(5, ALICE, BOB, 10)) == R.ID_ALREADY_FAILED
    assert b.ledger.lookup_transfers([5]) == []


def test_limits_exceeds_credits_and_debits(bank):
    bank.open(BANK, BOB)
    bank.open(ALICE, flags=DMNEC)
    bank.open(9, flags=CMNED)
    assert bank.one(bank.t(1, BANK, ALICE, 50)) == R.OK
    assert bank.one(bank.t(2, ALICE, BOB, 51)) == R.EXCEEDS_CREDITS
    assert bank.one(bank.t(3, ALICE, BOB, 50)) == R.OK  # exactly the balance is fine
    assert bank.counters(ALICE) == (0, 50, 0, 50)
    # A credits-must-not-exceed-debits account can only be credited up to what was debited from it.
    assert bank.one(bank.t(4, BOB, 9, 1)) == R.EXCEEDS_DEBITS
    assert bank.one(bank.t(5, 9, BOB, 20)) == R.OK
    assert bank.one(bank.t(6, BOB, 9, 20)) == R.OK
    assert bank.one(bank.t(7, BOB, 9, 1)) == R.EXCEEDS_DEBITS
    assert bank.counters(9) == (0, 20, 0, 20)
    # A pending debit counts against the limit too.
    assert bank.one(bank.t(8, BANK, ALICE, 10)) == R.OK
    assert bank.one(bank.t(10, ALICE, BOB, 11, flags=F.PENDING)) == R.EXCEEDS_CREDITS
    assert bank.one(bank.t(11, ALICE, BOB, 10, flags=F.PENDING)) == R.OK
    assert bank.one(bank.t(12, ALICE, BOB, 1)) == R.EXCEEDS_CREDITS
    for failed, code in ((2, R.EXCEEDS_CREDITS), (4, R.EXCEEDS_DEBITS), (12, R.EXCEEDS_CREDITS)):
        assert bank.store.failed_result(failed) == code
    # Funded now, but a failed id stays failed.
    assert bank.one(bank.t(13, BANK, ALICE, 1000)) == R.OK
    assert bank.one(bank.t(2, ALICE, BOB, 51)) == R.ID_ALREADY_FAILED
    assert bank.one(bank.t(12, ALICE, BOB, 1)) == R.ID_ALREADY_FAILED
    assert bank.ledger.lookup_transfers([2, 4, 12]) == []


def test_overflow_codes(bank, clock):
    bank.open(1, 2, 3, 4, 5, 6)
    assert bank.one(bank.t(10, 1, 2, AMOUNT_MAX)) == R.OK  # 1.debits_posted = 2.credits_posted = max
    assert bank.one(bank.t(11, 1, 3, 1)) == R.OVERFLOWS_DEBITS_POSTED
    assert bank.one(bank.t(12, 3, 2, 1)) == R.OVERFLOWS_CREDITS_POSTED
    assert bank.one(bank.t(13, 3, 4, AMOUNT_MAX, flags=F.PENDING)) == R.OK
    assert bank.one(bank.t(14, 3, 5, 1, flags=F.PENDING)) == R.OVERFLOWS_DEBITS_PENDING
    assert bank.one(bank.t(15, 5, 4, 1, flags=F.PENDING)) == R.OVERFLOWS_CREDITS_PENDING
    # 3 has debits_pending = max: a posted debit fits debits_posted but not pending + posted.
    assert bank.one(bank.t(16, 3, 5, 1)) == R.OVERFLOWS_DEBITS
    assert bank.one(bank.t(17, 5, 4, 1)) == R.OVERFLOWS_CREDITS
    clock.set(AMOUNT_MAX - 10**18)
    assert bank.one(bank.t(18, 5, 6, 1, flags=F.PENDING, timeout=2**32 - 1)) == R.OVERFLOWS_TIMEOUT
    for tid, code in ((11, R.OVERFLOWS_DEBITS_POSTED), (16, R.OVERFLOWS_DEBITS), (18, R.OVERFLOWS_TIMEOUT)):
        assert bank.store.failed_result(tid) == code
    assert bank.counters(3) == (AMOUNT_MAX, 0, 0, 0)
    assert bank.counters(5) == (0, 0, 0, 0)
    assert bank.ledger.lookup_transfers([11, 12, 14, 15, 16, 17, 18]) == []


# -- linked chains --------------------------------------------------------------------------------------------


def test_chain_is_all_or_nothing(funded):
    b = funded
    before = b.all_counters(BANK, ALICE, BOB)
    chain = [
        b.t(1, BANK, BOB, 5, flags=F.LINKED),
        b.t(2, BOB, ALICE, 5, flags=F.LINKED),
        b.t(3, ALICE, BOB, 500),  # exceeds ALICE's 105
        b.t(4, BANK, BOB, 1),  # after the chain: independent
    ]
    assert b.ledger.create_transfers(chain) == [R.LINKED_EVENT_FAILED, R.LINKED_EVENT_FAILED, R.EXCEEDS_CREDITS, R.OK]
    before[BANK] = (0, 101, 0, 0)
    before[BOB] = (0, 0, 0, 1)
    assert b.all_counters(BANK, ALICE, BOB) == before
    assert b.ledger.lookup_transfers([1, 2, 3]) == []
    assert b.store.failed_result(3) == R.EXCEEDS_CREDITS
    assert b.store.failed_result(1) is None
    assert b.store.failed_result(2) is None
    # The legs that were rolled back did not fail themselves: their ids may be used again.
    assert b.ledger.create_transfers([b.t(1, BANK, BOB, 5, flags=F.LINKED), b.t(2, BOB, ALICE, 5)]) == [R.OK, R.OK]


def test_chain_open_applies_nothing(funded):
    b = funded
    chain = [b.t(1, BANK, BOB, 5, flags=F.LINKED), b.t(2, BANK, BOB, 5, flags=F.LINKED)]
    assert b.ledger.create_transfers(chain) == [R.LINKED_EVENT_FAILED, R.LINKED_EVENT_CHAIN_OPEN]
    assert b.ledger.create_transfers([b.t(3, BANK, BOB, 5, flags=F.LINKED)]) == [R.LINKED_EVENT_CHAIN_OPEN]
    assert b.counters(BOB) == (0, 0, 0, 0)
    assert b.ledger.lookup_transfers([1, 2, 3]) == []
    assert all(b.store.failed_result(i) is None for i in (1, 2, 3))


def test_chain_retried_after_success_answers_exists(funded):
    b = funded
    chain = [b.t(1, BANK, BOB, 5, flags=F.LINKED), b.t(2, BOB, ALICE, 3, flags=F.LINKED), b.t(3, ALICE, BOB, 2)]
    assert b.ledger.create_transfers(chain) == [R.OK, R.OK, R.OK]
    after = b.all_counters(BANK, ALICE, BOB)
    assert b.ledger.create_transfers(chain) == [R.EXISTS, R.EXISTS, R.EXISTS]
    assert b.all_counters(BANK, ALICE, BOB) == after == {BANK: (0, 105, 0, 0), ALICE: (0, 2, 0, 103), BOB: (0, 3, 0, 7)}


def test_chain_with_pending_created_and_posted(funded):
    b = funded
    chain = [b.t(1, ALICE, BOB, 40, flags=F.PENDING | F.LINKED), b.post(2, 1, 25)]
    assert b.ledger.create_transfers(chain) == [R.OK, R.OK]
    assert b.counters(ALICE) == (0, 25, 0, 100)
    assert b.counters(BOB) == (0, 0, 0, 25)
    # The same shape, but the chain fails after the post: the pending and the post both disappear.
    chain = [b.t(3, ALICE, BOB, 40, flags=F.PENDING | F.LINKED), b.post(4, 3, flags=F.LINKED), b.t(5, ALICE, BOB, 999)]
    assert b.ledger.create_transfers(chain) == [R.LINKED_EVENT_FAILED, R.LINKED_EVENT_FAILED, R.EXCEEDS_CREDITS]
    assert b.counters(ALICE) == (0, 25, 0, 100)
    assert b.ledger.lookup_transfers([3, 4]) == []
    assert b.ledger.pending_state(3) is None


def test_batches_keep_segments_apart(funded):
    b = funded
    results = b.ledger.create_transfer_batches(
        [
            [b.t(1, BANK, BOB, 5, flags=F.LINKED)],  # would link into the next caller's event: must not
            [b.t(2, BANK, BOB, 6)],
            [b.t(3, BANK, BOB, 7, flags=F.LINKED), b.t(4, ALICE, BOB, 1000)],
            [b.t(5, BANK, BOB, 8, flags=F.LINKED), b.t(6, BANK, BOB, 9)],
        ]
    )
    assert results == [
        [R.LINKED_EVENT_CHAIN_OPEN],
        [R.OK],
        [R.LINKED_EVENT_FAILED, R.EXCEEDS_CREDITS],
        [R.OK, R.OK],
    ]
    assert b.counters(BOB) == (0, 0, 0, 6 + 8 + 9)
    assert [t.id for t in b.ledger.lookup_transfers([1, 2, 3, 4, 5, 6])] == [2, 5, 6]


@pytest.mark.parametrize("plain", [63, 64, 129])
def test_a_large_batch_mixing_plain_and_other_transfers_is_stored_whole(funded, plain):
    """SQLite writes plain transfers in statements of 64 rows and the rest one by one: every row must land intact,
    in order of its timestamp, whatever the count and however the kinds are mixed."""
    b = funded
    batch = []
    for k in range(plain):
        batch.append(b.t(1000 + k, BANK, BOB, 1 + k))
        if k % 20 == 0:  # a transfer that is not plain: user data and a code of its own
            batch.append(b.t(5000 + k, BANK, BOB, 1, code=7, user_data_128=k + 1, user_data_64=2, user_data_32=3))
    assert b.ledger.create_transfers(batch) == [R.OK] * len(batch)
    stored = b.ledger.lookup_transfers([t.id for t in batch])
    assert [(t.id, t.amount, t.code, t.user_data_128, t.user_data_64) for t in stored] == [
        (t.id, t.amount, t.code, t.user_data_128, t.user_data_64) for t in batch
    ]
    timestamps = [t.timestamp for t in stored]
    assert timestamps == sorted(timestamps) and len(set(timestamps)) == len(batch)
    assert b.counters(BOB) == (0, 0, 0, sum(t.amount for t in batch))
