"""Telling the bank's own accounts from customers' by id: a statement shows "bank" as the counterparty of a fee or a
deposit, and a customer's account number otherwise."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pocketbank.domain.accounts import AccountCode, bank_account_id, derive_id, is_bank_account_id

LEDGERS = [156, 840, 9_000_156, 9_000_999]  # CNY, USD, CNY's limit ledger, the highest limit ledger
BANK_CODES = [c for c in AccountCode if c is not AccountCode.CUSTOMER_DEPOSIT]


@pytest.mark.parametrize("ledger", LEDGERS)
@pytest.mark.parametrize("code", BANK_CODES)
def test_every_bank_account_is_recognised(ledger: int, code: AccountCode) -> None:
    for sub in (0, 1, 31, 255):
        assert is_bank_account_id(bank_account_id(ledger, code, sub))


@given(rest=st.integers(min_value=1 << 56, max_value=2**120 - 1))
def test_a_customer_id_whose_top_byte_is_the_banks_is_still_a_customer(rest: int) -> None:
    # One derived or random id in 256 has 0x01 as its top byte, like every bank id: that alone must not make it one.
    assert not is_bank_account_id((1 << 120) | rest)


@pytest.mark.parametrize("code", [0, int(AccountCode.CUSTOMER_DEPOSIT), 2, 255])
def test_the_layout_with_a_code_that_is_not_the_banks_is_not_a_bank_account(code: int) -> None:
    assert not is_bank_account_id((1 << 120) | (156 << 32) | (code << 8))


def test_derived_customer_ids_with_the_banks_top_byte() -> None:
    ids = [derive_id("account", n) for n in range(20_000)]
    same_top_byte = [i for i in ids if i >> 120 == 1]
    assert same_top_byte  # about one in 256 of them
    assert not any(is_bank_account_id(i) for i in same_top_byte)
