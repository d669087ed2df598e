"""Contract: two-phase transfers (pending, post, void, expiry), balancing transfers and closing accounts."""

from __future__ import annotations

import pytest
from ledger_contract_support import bank_fixture, ledger_verifies  # noqa: F401  (fixtures)

from pocketbank.domain.ledger import (
    NS_PER_SECOND,
    Account,
    AccountFlags,
    CreateAccountResult,
    CreateTransferResult,
    PendingStatus,
    TransferFlags,
)

R = CreateTransferResult
F = TransferFlags
DMNEC = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
CMNED = AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS

BANK, ALICE, BOB, CAROL = 1, 2, 3, 5


@pytest.fixture
def funded(bank):
    bank.open(BANK, BOB)
    bank.open(ALICE, CAROL, flags=DMNEC)
    assert bank.one(bank.t(900, BANK, ALICE, 100)) == R.OK
    return bank


def _hold(b, tid=10, amount=40, **kw):
    assert b.one(b.t(tid, ALICE, BOB, amount, flags=F.PENDING | kw.pop("flags", 0), **kw)) == R.OK


def test_pending_reserves_and_full_post(funded):
    b = funded
    _hold(b)
    assert b.counters(ALICE) == (40, 0, 0, 100)
    assert b.counters(BOB) == (0, 0, 40, 0)
    assert b.ledger.lookup_accounts([ALICE])[0].available == 60
    assert b.ledger.pending_state(10).status == PendingStatus.PENDING
    assert b.one(b.post(11, 10, 40)) == R.OK
    assert b.counters(ALICE) == (0, 40, 0, 100)
    assert b.counters(BOB) == (0, 0, 0, 40)
    assert b.ledger.pending_state(10).status == PendingStatus.POSTED
    (post,) = b.ledger.lookup_transfers([11])
    assert (post.debit_account_id, post.credit_account_id, post.amount, post.pending_id) == (ALICE, BOB, 40, 10)
    assert (post.ledger, post.code) == (1, 10)
    # Retries of the post: same answer whatever the client left 0, and nothing moves.
    assert b.one(b.post(11, 10, 40)) == R.EXISTS
    assert b.one(b.post(11, 10, 0)) == R.EXISTS
    assert b.one(b.post(11, 10, 39)) == R.EXISTS_WITH_DIFFERENT_AMOUNT
    assert b.one(b.post(11, 12345, 40)) == R.EXISTS_WITH_DIFFERENT_PENDING_ID
    assert b.one(b.void(11, 10)) == R.EXISTS_WITH_DIFFERENT_FLAGS
    assert b.one(b.post(12, 10)) == R.PENDING_TRANSFER_ALREADY_POSTED
    assert b.one(b.void(13, 10)) == R.PENDING_TRANSFER_ALREADY_POSTED
    assert b.store.failed_result(12) == R.PENDING_TRANSFER_ALREADY_POSTED
    assert b.counters(ALICE) == (0, 40, 0, 100)


def test_partial_post_releases_the_rest(funded):
    b = funded
    _hold(b)
    assert b.one(b.post(11, 10, 41)) == R.EXCEEDS_PENDING_TRANSFER_AMOUNT
    assert b.counters(ALICE) == (40, 0, 0, 100)
    assert b.one(b.post(12, 10, 15)) == R.OK
    assert b.counters(ALICE) == (0, 15, 0, 100)
    assert b.counters(BOB) == (0, 0, 0, 15)
    assert b.ledger.lookup_transfers([12])[0].amount == 15
    assert b.one(b.post(13, 10, 15)) == R.PENDING_TRANSFER_ALREADY_POSTED


def test_post_with_amount_zero_posts_the_full_amount(funded):
    b = funded
    _hold(b, amount=33)
    assert b.one(b.post(11, 10, 0)) == R.OK
    assert b.counters(ALICE) == (0, 33, 0, 100)
    assert b.ledger.lookup_transfers([11])[0].amount == 33


def test_void_releases_the_hold(funded):
    b = funded
    _hold(b)
    assert b.one(b.void(11, 10, 39)) == R.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT
    assert b.one(b.void(12, 10, 40)) == R.OK
    assert b.counters(ALICE) == (0, 0, 0, 100)
    assert b.counters(BOB) == (0, 0, 0, 0)
    assert b.ledger.pending_state(10).status == PendingStatus.VOIDED
    assert b.one(b.void(13, 10)) == R.PENDING_TRANSFER_ALREADY_VOIDED
    assert b.one(b.post(14, 10)) == R.PENDING_TRANSFER_ALREADY_VOIDED
    assert b.one(b.void(12, 10)) == R.EXISTS


def test_void_with_more_than_the_pending_amount(funded):
    b = funded
    _hold(b)
    assert b.one(b.void(11, 10, 41)) == R.EXCEEDS_PENDING_TRANSFER_AMOUNT


def test_post_and_void_refusals(funded):
    b = funded
    _hold(b, code=10, user_data_32=3)
    assert b.one(b.t(20, BANK, BOB, 1)) == R.OK
    before = b.all_counters(BANK, ALICE, BOB)
    cases = [
        (b.post(30, 999), R.PENDING_TRANSFER_NOT_FOUND),
        (b.post(31, 20), R.PENDING_TRANSFER_NOT_PENDING),
        (b.post(32, 10, debit_account_id=BANK), R.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID),
        (b.post(33, 10, credit_account_id=BANK), R.PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID),
        (b.post(34, 10, ledger=2), R.PENDING_TRANSFER_HAS_DIFFERENT_LEDGER),
        (b.post(35, 10, code=11), R.PENDING_TRANSFER_HAS_DIFFERENT_CODE),
        (b.void(36, 10, debit_account_id=BANK), R.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID),
    ]
    for event, code in cases:
        assert b.one(event) == code, event
        assert b.store.failed_result(event.id) == code
        assert b.ledger.lookup_transfers([event.id]) == []
    assert b.all_counters(BANK, ALICE, BOB) == before
    # Naming the right accounts, ledger and code explicitly is fine; user data may differ.
    post = b.post(37, 10, debit_account_id=ALICE, credit_account_id=BOB, ledger=1, code=10, user_data_32=9)
    assert b.one(post) == R.OK
    assert b.ledger.lookup_transfers([37])[0].user_data_32 == 9


def test_pending_before_timeout_can_be_posted(funded, clock):
    b = funded
    _hold(b, timeout=60)
    (p,) = b.ledger.lookup_transfers([10])
    clock.set(p.timestamp + 60 * NS_PER_SECOND - 1)
    assert b.ledger.expire_pending() == 0
    assert b.one(b.post(11, 10)) == R.OK
    clock.advance(3600)
    assert b.ledger.expire_pending() == 0
    assert b.counters(ALICE) == (0, 40, 0, 100)


def test_sweeper_expires_exactly_once(funded, clock):
    b = funded
    _hold(b, timeout=60)
    _hold(b, tid=11, amount=10)  # no timeout: never expires
    (p,) = b.ledger.lookup_transfers([10])
    expires_at = p.timestamp + 60 * NS_PER_SECOND
    clock.advance(60)
    if clock.now_ns() < expires_at:  # timestamps are unique, so the hold may be stamped a few ns after "now"
        assert b.ledger.expire_pending() == 0
        clock.set(expires_at)
    assert b.ledger.expire_pending() == 1
    assert b.ledger.expire_pending() == 0
    clock.advance(10_000)
    assert b.ledger.expire_pending() == 0
    assert b.counters(ALICE) == (10, 0, 0, 100)
    assert b.counters(BOB) == (0, 0, 10, 0)
    assert b.ledger.pending_state(10).status == PendingStatus.EXPIRED
    assert b.one(b.post(12, 10)) == R.PENDING_TRANSFER_EXPIRED
    assert b.one(b.void(13, 10)) == R.PENDING_TRANSFER_EXPIRED
    assert b.store.failed_result(12) == R.PENDING_TRANSFER_EXPIRED
    assert b.counters(ALICE) == (10, 0, 0, 100)


def test_post_after_timeout_without_sweeper_expires_it(funded, clock):
    b = funded
    _hold(b, timeout=5)
    (p,) = b.ledger.lookup_transfers([10])
    clock.set(p.timestamp + 5 * NS_PER_SECOND)
    assert b.one(b.post(11, 10)) == R.PENDING_TRANSFER_EXPIRED
    assert b.counters(ALICE) == (0, 0, 0, 100)
    assert b.counters(BOB) == (0, 0, 0, 0)
    assert b.ledger.pending_state(10).status == PendingStatus.EXPIRED
    assert b.ledger.lookup_transfers([11]) == []
    assert b.ledger.expire_pending() == 0
    assert b.counters(ALICE) == (0, 0, 0, 100)


def test_expiry_inside_a_failed_chain_is_not_rolled_back(funded, clock):
    b = funded
    _hold(b, timeout=5)
    clock.advance(3600)
    chain = [b.t(11, BANK, BOB, 1, flags=F.LINKED), b.void(12, 10)]
    assert b.ledger.create_transfers(chain) == [R.LINKED_EVENT_FAILED, R.PENDING_TRANSFER_EXPIRED]
    assert b.counters(ALICE) == (0, 0, 0, 100)
    assert b.counters(BANK) == (0, 100, 0, 0)
    assert b.ledger.pending_state(10).status == PendingStatus.EXPIRED


# -- balancing ------------------------------------------------------------------------------------------------


def test_balancing_debit_clamps_to_available(funded):
    b = funded
    _hold(b, amount=30)
    assert b.one(b.t(20, ALICE, BOB, 1000, flags=F.BALANCING_DEBIT)) == R.OK
    assert b.ledger.lookup_transfers([20])[0].amount == 70
    assert b.counters(ALICE) == (30, 70, 0, 100)
    assert b.one(b.t(21, ALICE, BOB, 1, flags=F.BALANCING_DEBIT)) == R.EXCEEDS_CREDITS
    assert b.store.failed_result(21) == R.EXCEEDS_CREDITS
    # A retry asks for at most what it asked before: exists as long as it is not less than what moved.
    assert b.one(b.t(20, ALICE, BOB, 1000, flags=F.BALANCING_DEBIT)) == R.EXISTS
    assert b.one(b.t(20, ALICE, BOB, 70, flags=F.BALANCING_DEBIT)) == R.EXISTS
    assert b.one(b.t(20, ALICE, BOB, 69, flags=F.BALANCING_DEBIT)) == R.EXISTS_WITH_DIFFERENT_AMOUNT
    # Smaller than available: moves just the amount asked.
    assert b.one(b.void(22, 10)) == R.OK
    assert b.one(b.t(23, ALICE, BOB, 10, flags=F.BALANCING_DEBIT)) == R.OK
    assert b.counters(ALICE) == (0, 80, 0, 100)


def test_balancing_credit_clamps_to_available(bank):
    bank.open(BANK)
    bank.open(CAROL, flags=CMNED)
    assert bank.one(bank.t(1, CAROL, BANK, 50)) == R.OK
    assert bank.one(bank.t(2, BANK, CAROL, 80, flags=F.BALANCING_CREDIT)) == R.OK
    assert bank.ledger.lookup_transfers([2])[0].amount == 50
    assert bank.counters(CAROL) == (0, 50, 0, 50)
    assert bank.one(bank.t(3, BANK, CAROL, 80, flags=F.BALANCING_CREDIT)) == R.EXCEEDS_DEBITS


def test_balancing_both_sides_reports_the_side_that_is_empty(bank):
    bank.open(ALICE, flags=DMNEC)
    bank.open(CAROL, flags=CMNED)
    bank.open(BANK)
    assert bank.one(bank.t(1, BANK, ALICE, 50)) == R.OK  # ALICE may be debited 50; CAROL may be credited 0
    flags = F.BALANCING_DEBIT | F.BALANCING_CREDIT
    assert bank.one(bank.t(2, ALICE, CAROL, 10, flags=flags)) == R.EXCEEDS_DEBITS


# -- closing --------------------------------------------------------------------------------------------------


def test_close_and_reopen_account(funded):
    b = funded
    assert b.ledger.close_account(ALICE, closing_transfer_id=50, control_account_id=BANK, code=10, ledger=1) == R.OK
    assert b.closed(ALICE)
    assert not b.closed(BANK)
    assert b.counters(ALICE) == (0, 0, 0, 100)  # a closing transfer moves nothing
    assert b.one(b.t(51, ALICE, BOB, 1)) == R.DEBIT_ACCOUNT_ALREADY_CLOSED
    assert b.one(b.t(52, BANK, ALICE, 1)) == R.CREDIT_ACCOUNT_ALREADY_CLOSED
    assert b.one(b.t(53, ALICE, BOB, 1, flags=F.PENDING)) == R.DEBIT_ACCOUNT_ALREADY_CLOSED
    assert b.store.failed_result(51) == R.DEBIT_ACCOUNT_ALREADY_CLOSED
    closing_again = dict(closing_transfer_id=54, control_account_id=BANK, code=10, ledger=1)
    assert b.ledger.close_account(ALICE, **closing_again) == R.DEBIT_ACCOUNT_ALREADY_CLOSED
    # Re-creating the account with its original flags is still a safe retry while it is closed.
    assert b.ledger.create_accounts([Account(ALICE, 1, 10, DMNEC)]) == [CreateAccountResult.EXISTS]
    assert b.ledger.reopen_account(50, void_transfer_id=55) == R.OK
    assert not b.closed(ALICE)
    assert b.one(b.t(56, ALICE, BOB, 1)) == R.OK
    assert b.one(b.t(57, BANK, ALICE, 1)) == R.OK
    assert b.one(b.t(51, ALICE, BOB, 1)) == R.ID_ALREADY_FAILED
    assert b.counters(ALICE) == (0, 1, 0, 101)


def test_closing_credit_and_expiry_reopens(funded, clock):
    b = funded
    closing = b.t(60, BANK, BOB, 0, flags=F.PENDING | F.CLOSING_CREDIT | F.CLOSING_DEBIT, timeout=30)
    assert b.one(closing) == R.OK
    assert b.closed(BOB)
    assert b.closed(BANK)
    assert b.one(b.t(61, ALICE, BOB, 1)) == R.CREDIT_ACCOUNT_ALREADY_CLOSED
    clock.advance(31)
    assert b.ledger.expire_pending() == 1
    assert not b.closed(BOB)
    assert not b.closed(BANK)
    assert b.one(b.t(62, ALICE, BOB, 1)) == R.OK


def test_void_of_a_hold_on_a_closed_account_is_allowed(funded):
    b = funded
    _hold(b)
    assert b.ledger.close_account(ALICE, closing_transfer_id=50, control_account_id=BANK, code=10, ledger=1) == R.OK
    assert b.one(b.void(11, 10)) == R.OK
    assert b.counters(ALICE) == (0, 0, 0, 100)
    assert b.closed(ALICE)


def test_post_of_a_hold_on_a_closed_account_is_refused(funded):
    b = funded
    _hold(b)
    assert b.ledger.close_account(ALICE, closing_transfer_id=50, control_account_id=BANK, code=10, ledger=1) == R.OK
    assert b.one(b.post(11, 10)) == R.DEBIT_ACCOUNT_ALREADY_CLOSED
    assert b.counters(ALICE) == (40, 0, 0, 100)


def test_retry_of_a_partial_post_with_amount_zero_is_a_different_request(funded):
    b = funded
    _hold(b)
    assert b.one(b.post(11, 10, 15)) == R.OK
    assert b.one(b.post(11, 10, 0)) == R.EXISTS_WITH_DIFFERENT_AMOUNT


def test_retry_of_a_post_with_user_data_zero_compares_with_the_pending(funded):
    b = funded
    _hold(b)
    assert b.one(b.post(11, 10, user_data_32=9)) == R.OK
    assert b.one(b.post(11, 10)) == R.EXISTS_WITH_DIFFERENT_USER_DATA_32
