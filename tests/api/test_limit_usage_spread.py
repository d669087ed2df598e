"""Limit usage is credited to one of the limit ledger's usage sub-accounts, chosen by transfer id.

Every transfer's limit legs credit the bank's usage account. With one such account, every ledger batch in the bank
would lock the same row; spread over sub-accounts, concurrent batches rarely meet. The totals stay balanced, and
sub-account 0 is the account a bank had before, so an existing ledger carries on.
"""

from __future__ import annotations

from collections.abc import Callable

from auth_helpers import SignedUp
from fastapi.testclient import TestClient
from money_helpers import add_payee, deposit, ledger_ok, relax_rate_limits, transfer, yuan

from pocketbank.bootstrap import Container
from pocketbank.domain.accounts import (
    LIMIT_LEDGER,
    LIMIT_USAGE_SUBACCOUNTS,
    AccountCode,
    bank_account_id,
    limit_usage_account_id,
)
from pocketbank.domain.ids import IdKind, parse_id

USAGE = [bank_account_id(LIMIT_LEDGER, AccountCode.LIMIT_USAGE, s) for s in range(LIMIT_USAGE_SUBACCOUNTS)]


def test_sub_account_zero_is_the_single_usage_account_banks_had() -> None:
    assert limit_usage_account_id(LIMIT_LEDGER, LIMIT_USAGE_SUBACCOUNTS * 7) == bank_account_id(
        LIMIT_LEDGER, AccountCode.LIMIT_USAGE
    )
    assert sorted({limit_usage_account_id(LIMIT_LEDGER, t) for t in range(1000)}) == sorted(USAGE)


def test_the_bank_opens_every_usage_sub_account(container: Container) -> None:
    found = container.ledger.lookup_accounts(USAGE)
    assert sorted(a.id for a in found) == sorted(USAGE)
    assert {(a.ledger, a.code) for a in found} == {(LIMIT_LEDGER, AccountCode.LIMIT_USAGE)}


def test_transfers_spread_their_limit_usage_and_the_ledger_stays_balanced(
    client: TestClient, container: Container, signup: Callable[..., SignedUp], teller: dict[str, str]
) -> None:
    relax_rate_limits(container)
    a, b = signup(), signup()
    deposit(client, teller, a.account_id, yuan(1_000))
    payee = add_payee(client, a, b.account_id, "Bob")
    used: set[int] = set()
    counted = 0  # what the limit legs moved, over all their allowances
    for n in range(8):
        r = transfer(client, container, a, 100 + n, payee_id=payee, key=f"spread-{n}")
        assert r.status_code == 201, r.text
        transfer_id = parse_id(IdKind.TRANSFER, r.json()["id"])
        record = container.transfers.records.get(transfer_id)
        assert record is not None
        limit_legs = [leg.transfer for leg in record.legs if leg.role.startswith("limit:")]
        assert limit_legs and all(leg.amount == 100 + n for leg in limit_legs)
        counted += sum(leg.amount for leg in limit_legs)
        credited = {leg.credit_account_id for leg in limit_legs}
        assert credited == {limit_usage_account_id(LIMIT_LEDGER, transfer_id)}  # all its limit legs, one row
        used |= credited
    assert len(used) > 1  # eight transfers' ids do not all fall on one sub-account
    usage = sum(acct.credits_posted for acct in container.ledger.lookup_accounts(USAGE))
    assert usage == counted  # spread or not, usage holds exactly what the limit legs moved
    ledger_ok(container)
