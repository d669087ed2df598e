"""Closing an account while a payment lands in it: the money is never shut in a closed account.

The balance is read before the ledger closes the account; a payment can land after that read. These tests make one
land exactly there (inside the ledger call that closes the account, just before the close), and check that the
close is undone and refused, and that a close cut short by a crash at that point is undone by the next attempt.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from auth_helpers import SignedUp
from fastapi.testclient import TestClient
from money_helpers import account, add_payee, deposit, ledger_ok, open_account, problem, relax_rate_limits, transfer

from pocketbank.bootstrap import Container
from pocketbank.domain.accounts import AccountCode, TransferCode, bank_account_id, closing_transfer_id
from pocketbank.domain.ids import IdKind, parse_id
from pocketbank.domain.ledger import Transfer

USD_LEDGER = 840


@contextmanager
def _payment_lands_as_it_closes(container: Container, account_id: str, amount: int | None, *,
                                then_die: bool = False) -> Iterator[None]:  # fmt: skip
    """Within the block, closing ``account_id`` in the ledger is preceded by a payment of ``amount`` into it (None:
    no payment), and with ``then_die`` the server dies as soon as the ledger has closed it."""
    ledger = container.accounts.ledger
    close = ledger.close_account
    target = parse_id(IdKind.ACCOUNT, account_id)
    landed: list[int] = []

    def closing(acct: int, **kwargs: Any) -> Any:
        if acct == target and amount is not None and not landed:
            source = bank_account_id(USD_LEDGER, AccountCode.BANK_SETTLEMENT)
            payment = Transfer(container.ids.new(), source, acct, amount, USD_LEDGER, TransferCode.DEPOSIT)
            assert [r.value for r in ledger.create_transfers([payment])] == ["ok"]
            landed.append(amount)
        result = close(acct, **kwargs)
        if then_die and result.value == "ok":
            raise RuntimeError("the server died after the ledger closed the account")
        return result

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ledger, "close_account", closing)
        yield


def _usd_pair(client: TestClient, container: Container, signup, teller) -> tuple[SignedUp, SignedUp, str, str]:
    relax_rate_limits(container)
    a, b = signup(), signup()
    usd_a, usd_b = open_account(client, a, "USD"), open_account(client, b, "USD")
    deposit(client, teller, usd_a, 50_000)
    return a, b, usd_a, usd_b


def test_a_payment_that_lands_as_the_account_closes_keeps_it_open(
    client: TestClient, container: Container, signup, teller
) -> None:
    a, b, usd_a, usd_b = _usd_pair(client, container, signup, teller)
    with _payment_lands_as_it_closes(container, usd_b, 700):
        r = client.post(f"/v1/accounts/{usd_b}/close", headers=b.headers)
    problem(r, 409, "account_not_empty", "account_id")
    got = account(client, b, usd_b)
    assert (got["status"], got["balance"]) == ("open", 700)
    deposit(client, teller, usd_b, 300)  # the ledger has it open again: it takes money
    # ... and pays out: once it is empty, closing it works (with the next closing id) and it refuses money
    back = transfer(client, container, b, 1_000, payee_id=add_payee(client, b, usd_a, "Alice USD"), currency="USD",
                    from_account=usd_b)  # fmt: skip
    assert back.status_code == 201, back.text
    r = client.post(f"/v1/accounts/{usd_b}/close", headers=b.headers)
    assert r.status_code == 200 and r.json()["status"] == "closed", r.text
    refused = transfer(client, container, a, 100, payee_id=add_payee(client, a, usd_b, "Bob USD"), currency="USD",
                       from_account=usd_a)  # fmt: skip
    assert refused.status_code in (402, 409), refused.text
    assert account(client, a, usd_a)["balance"] == 50_000 + 1_000
    ledger_ok(container)
    assert container.audit.verify() == []


def test_a_close_cut_short_with_money_in_the_account_is_undone_by_the_next_attempt(
    client: TestClient, container: Container, signup, teller
) -> None:
    _, b, _, usd_b = _usd_pair(client, container, signup, teller)
    with _payment_lands_as_it_closes(container, usd_b, 700, then_die=True):
        assert client.post(f"/v1/accounts/{usd_b}/close", headers=b.headers).status_code == 500
    # The ledger closed the account with the payment in it; the record still says open.
    assert account(client, b, usd_b)["status"] == "open"
    problem(client.post(f"/v1/accounts/{usd_b}/close", headers=b.headers), 409, "account_not_empty", "account_id")
    deposit(client, teller, usd_b, 300)  # reopened in the ledger
    assert account(client, b, usd_b)["balance"] == 1_000
    ledger_ok(container)


def test_a_close_cut_short_on_an_empty_account_is_finished_by_the_next_attempt(
    client: TestClient, container: Container, signup, teller
) -> None:
    _, b, _, usd_b = _usd_pair(client, container, signup, teller)
    with _payment_lands_as_it_closes(container, usd_b, None, then_die=True):
        assert client.post(f"/v1/accounts/{usd_b}/close", headers=b.headers).status_code == 500
    r = client.post(f"/v1/accounts/{usd_b}/close", headers=b.headers)
    assert r.status_code == 200 and r.json()["status"] == "closed", r.text
    ledger_ok(container)


def test_a_close_cut_short_is_undone_whichever_closing_id_it_took(
    client: TestClient, container: Container, signup, teller
) -> None:
    """The first closing id was refused by the ledger once (it stays failed), so the close took the second: the
    next attempt still finds and voids it."""
    _, b, _, usd_b = _usd_pair(client, container, signup, teller)
    acct = parse_id(IdKind.ACCOUNT, usd_b)
    control = bank_account_id(USD_LEDGER, AccountCode.CLOSING_CONTROL)
    refused = Transfer(closing_transfer_id(acct, 0), acct, control, 1, USD_LEDGER, TransferCode.ACCOUNT_CLOSING)
    assert [r.value for r in container.accounts.ledger.create_transfers([refused])] == ["exceeds_credits"]
    with _payment_lands_as_it_closes(container, usd_b, 700, then_die=True):
        assert client.post(f"/v1/accounts/{usd_b}/close", headers=b.headers).status_code == 500
    problem(client.post(f"/v1/accounts/{usd_b}/close", headers=b.headers), 409, "account_not_empty", "account_id")
    deposit(client, teller, usd_b, 300)  # reopened in the ledger
    assert account(client, b, usd_b)["balance"] == 1_000
    ledger_ok(container)
