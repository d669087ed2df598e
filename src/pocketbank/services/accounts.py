"""Deposit accounts: open (CNY at registration, foreign currencies on request), list with balances, close.

The ledger account is created first (idempotently, by an id derived from the customer and currency), then the
deposit-account row is written with its audit record and event in one unit of work. If the process dies between
the two, the retry finds the ledger account already there (``exists``) and writes the row: nothing is half-made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from pocketbank.domain.accounts import (
    CUSTOMER_ACCOUNT_FLAGS,
    FEE_SUBACCOUNTS,
    LIMIT_USAGE_SUBACCOUNTS,
    AccountCode,
    AccountStatus,
    DepositAccount,
    TransferCode,
    bank_account_id,
    closing_transfer_id,
    derive_id,
    limit_ledger,
)
from pocketbank.domain.audit import audit_by
from pocketbank.domain.customers import AccountClass
from pocketbank.domain.ids import IdKind, format_id
from pocketbank.domain.ledger import Account, AccountFlags, CreateAccountResult, PendingStatus, Transfer
from pocketbank.domain.money import AssetRegistry
from pocketbank.domain.principals import Principal
from pocketbank.errors import AccountNotEmpty, Conflict, Forbidden, NotFound, UnsupportedCurrency
from pocketbank.services.ledger import LedgerService
from pocketbank.services.ports import IdempotencyStore, Reply, Tx
from pocketbank.services.unit import UnitDeps

# Currencies a customer may hold (reference: ICBC's small FX purchase currencies, trimmed to the app's list).
ACCOUNT_CURRENCIES = ("CNY", "USD", "EUR", "HKD", "GBP", "JPY")


class DepositAccountStore(Protocol):
    def insert(self, tx: Tx, a: DepositAccount) -> bool:
        """False, inserting nothing, when the customer already has an open account in ``a``'s currency."""
        ...

    def get(self, account_id: int) -> DepositAccount | None: ...

    def list_for_customer(self, customer_id: int) -> list[DepositAccount]: ...

    def set_status(self, tx: Tx, account_id: int, status: AccountStatus, at: int | None) -> None: ...


def owned_by(account: DepositAccount | None, customer_id: int, *, param: str) -> DepositAccount:
    """``account`` if it exists and belongs to this customer; otherwise ``not_found``, whichever of the two failed,
    so that someone else's account number reveals nothing."""
    if account is None or account.customer_id != customer_id:
        raise NotFound("no such account", param=param)
    return account


@dataclass(frozen=True, slots=True)
class AccountView:
    account: DepositAccount
    balance: int  # posted credits - posted debits (the ledger balance)
    available: int  # balance less holds (pending debits)
    pending_in: int

    @property
    def public_id(self) -> str:
        return format_id(IdKind.ACCOUNT, self.account.id)


MAX_CLOSINGS = 100  # closes undone (money arrived as the account closed) before closing is refused


def _holds_money(la: Account | None) -> bool:
    """Whether a ledger account has a balance, a hold or money on its way in (what stops it from closing)."""
    return la is not None and (la.balance != 0 or la.available != 0 or la.credits_pending != 0)


class AccountService:
    def __init__(
        self,
        deps: UnitDeps,
        store: DepositAccountStore,
        ledger: LedgerService,
        assets: AssetRegistry,
        replies: IdempotencyStore,
    ) -> None:
        self.d, self.store, self.ledger, self.assets, self.replies = deps, store, ledger, assets, replies

    # -- the bank's own accounts ----------------------------------------------------------------------------

    def ensure_bank_accounts(self) -> None:
        """Create the internal accounts every currency needs (idempotent: ``exists`` is fine)."""
        accounts = []
        for code in ACCOUNT_CURRENCIES:
            ledger = self.assets.get(code).ledger
            accounts.append(
                Account(bank_account_id(ledger, AccountCode.BANK_SETTLEMENT), ledger, AccountCode.BANK_SETTLEMENT)
            )
            accounts.append(
                Account(bank_account_id(ledger, AccountCode.CLOSING_CONTROL), ledger, AccountCode.CLOSING_CONTROL)
            )
            for sub in range(FEE_SUBACCOUNTS):
                accounts.append(
                    Account(bank_account_id(ledger, AccountCode.FEE_INCOME, sub), ledger, AccountCode.FEE_INCOME)
                )
            limits = limit_ledger(ledger)  # each currency counts its limits on a ledger of its own
            source = AccountCode.LIMIT_SOURCE
            accounts.append(Account(bank_account_id(limits, source), limits, source))
            usage = AccountCode.LIMIT_USAGE  # spread over sub-accounts: see limit_usage_account_id
            subs = range(LIMIT_USAGE_SUBACCOUNTS)
            accounts.extend(Account(bank_account_id(limits, usage, s), limits, usage) for s in subs)
        bad = [
            r
            for r in self.ledger.create_accounts(accounts)
            if r not in (CreateAccountResult.OK, CreateAccountResult.EXISTS)
        ]
        if bad:
            raise RuntimeError(f"could not create the bank's accounts: {bad}")

    # -- opening --------------------------------------------------------------------------------------------

    def prepare_default_account(self, customer_id: int) -> None:
        """Create the ledger account of a new customer's CNY account, before the sign-up transaction.

        It has to come first: on SQLite the sign-up transaction holds the database's one write lock, so the ledger
        could not write until it ends. Its id is derived from the customer, so doing it twice changes nothing, and an
        account the sign-up then never uses holds nothing and is never shown.
        """
        self._create_ledger_account(customer_id, "CNY", default=True)

    def open_default_account(self, tx: Tx, customer_id: int, account_class: AccountClass) -> str:
        """The CNY account every customer gets at registration (the ``AccountOpener`` port).

        Call ``prepare_default_account`` first, outside the transaction; this only writes the account's row.
        """
        ledger = self.assets.get("CNY").ledger
        account = DepositAccount(
            derive_id("deposit", customer_id, "CNY", 0), customer_id, "CNY", ledger, AccountStatus.OPEN,
            self.d.now(), None, True,
        )  # fmt: skip
        if not self.store.insert(tx, account):
            raise Conflict("the customer already has a CNY account", param="customer_id")
        return format_id(IdKind.ACCOUNT, account.id)

    def open_account(self, principal: Principal, currency: str) -> AccountView:
        currency = currency.upper()
        if currency not in ACCOUNT_CURRENCIES:
            raise UnsupportedCurrency(f"accounts can be opened in {', '.join(ACCOUNT_CURRENCIES)}", param="currency")
        existing = [
            a
            for a in self.store.list_for_customer(principal.id)
            if a.currency == currency and a.status is AccountStatus.OPEN
        ]
        if existing:
            raise Conflict(f"you already have an open {currency} account", param="currency")
        # A customer may close and later reopen a currency: each opening is a new account with a fresh id.
        account = self._create_ledger_account(principal.id, currency, default=False, salt=self.d.ids.new())
        now = self.d.now()
        public = format_id(IdKind.ACCOUNT, account.id)
        event = self.d.event("account.opened", principal.channel, now, account=public, currency=currency)
        with self.d.uow.begin() as tx:
            if not self.store.insert(tx, account):  # another request opened one since the check above
                raise Conflict(f"you already have an open {currency} account", param="currency")
            self.d.audit.append(tx, audit_by(principal, "account.opened", public, now, currency=currency))
            self.d.outbox.add(tx, event)
        self.d.bus.publish([event])
        return self.view(account)

    def _create_ledger_account(
        self, customer_id: int, currency: str, *, default: bool, salt: int = 0
    ) -> DepositAccount:
        ledger = self.assets.get(currency).ledger
        account_id = derive_id("deposit", customer_id, currency, salt)
        result = self.ledger.create_accounts(
            [
                Account(
                    account_id, ledger, AccountCode.CUSTOMER_DEPOSIT, CUSTOMER_ACCOUNT_FLAGS, user_data_128=customer_id
                )
            ]
        )[0]
        if result not in (CreateAccountResult.OK, CreateAccountResult.EXISTS):
            raise RuntimeError(f"ledger refused the account: {result}")
        return DepositAccount(
            account_id, customer_id, currency, ledger, AccountStatus.OPEN, self.d.now(), None, default
        )

    # -- reading --------------------------------------------------------------------------------------------

    def owned(self, principal_customer_id: int, account_id: int, *, param: str = "account_id") -> DepositAccount:
        """The account if it belongs to this customer; otherwise ``not_found`` (never reveal that it exists)."""
        return owned_by(self.store.get(account_id), principal_customer_id, param=param)

    def find(self, account_id: int) -> DepositAccount | None:
        return self.store.get(account_id)

    def view(self, account: DepositAccount) -> AccountView:
        la = self._ledger_account(account)
        if la is None:
            return AccountView(account, 0, 0, 0)
        return AccountView(account, la.balance, la.available, la.credits_pending)

    def list_accounts(self, principal: Principal) -> list[AccountView]:
        """The caller's own accounts with balances (one ledger look-up for all of them)."""
        return self._views(principal.id)

    def customer_accounts(self, staff: Principal, customer_id: int) -> list[AccountView]:
        """A customer's accounts as the counter sees them."""
        if not staff.is_staff:
            raise Forbidden("this is for bank staff")
        return self._views(customer_id)

    def _views(self, customer_id: int) -> list[AccountView]:
        accounts = self.store.list_for_customer(customer_id)
        balances = {a.id: a for a in self.ledger.lookup_accounts([a.id for a in accounts])}
        views = []
        for a in accounts:
            la = balances.get(a.id)
            views.append(
                AccountView(a, la.balance, la.available, la.credits_pending) if la else AccountView(a, 0, 0, 0)
            )
        return views

    def get_account(self, principal: Principal, account_id: int) -> AccountView:
        return self.view(self.owned(principal.id, account_id))

    # -- closing --------------------------------------------------------------------------------------------

    def close_account(self, principal: Principal, account_id: int) -> AccountView:
        """Close an empty account (move the rest out first with a transfer). The default CNY account stays open.

        The balance is checked before the ledger closes the account and again after: a payment that lands between
        the two reads would otherwise be shut in a closed account. Once the ledger has closed it nothing more can
        land, so the second read is final; if it finds money, the close is undone (the closing transfer voided)
        and refused. A request that dies in between leaves the ledger account closed under an open record: the
        next attempt to close it finishes the close or, finding money, undoes it.
        """
        account = self.owned(principal.id, account_id)
        if account.status is AccountStatus.CLOSED:
            return self.view(account)
        if account.is_default:
            raise Conflict("the default CNY account closes only with the customer relationship", param="account_id")
        before = self._ledger_account(account)
        if _holds_money(before):
            if before is not None and before.flags & AccountFlags.CLOSED:
                self._reopen(account)  # a close cut short after money arrived must not keep it shut
            raise AccountNotEmpty("move the remaining balance out before closing", param="account_id")
        closing_id = self._close_in_ledger(account)
        if _holds_money(self._ledger_account(account)):
            self._void_closing(closing_id)
            raise AccountNotEmpty("money arrived as the account was closing: move it out first", param="account_id")
        now = self.d.now()
        public = format_id(IdKind.ACCOUNT, account.id)
        event = self.d.event("account.closed", principal.channel, now, account=public)
        with self.d.uow.begin() as tx:
            self.store.set_status(tx, account.id, AccountStatus.CLOSED, now)
            self.d.audit.append(tx, audit_by(principal, "account.closed", public, now))
            self.d.outbox.add(tx, event)
        self.d.bus.publish([event])
        return self.view(self.owned(principal.id, account.id))

    def _close_in_ledger(self, account: DepositAccount) -> int:
        """Close the ledger account; returns the id of the (pending) closing transfer that holds it closed.

        A voided closing transfer (a close undone) keeps its id, so each close of an account takes the next id in
        ``closing_transfer_id``'s sequence; one still pending is this close already done (a retry).
        """
        for n in range(MAX_CLOSINGS):
            closing_id = closing_transfer_id(account.id, n)
            result = self.ledger.close_account(
                account.id,
                closing_transfer_id=closing_id,
                control_account_id=bank_account_id(account.ledger, AccountCode.CLOSING_CONTROL),
                code=TransferCode.ACCOUNT_CLOSING,
                ledger=account.ledger,
            )
            if result.value == "ok" or (result.value == "exists" and self._holds_closed(closing_id)):
                return closing_id
            if result.value not in ("exists", "id_already_failed"):
                raise Conflict(f"the ledger refused to close the account: {result.value}", param="account_id")
        raise Conflict("this account has been closed and reopened too often", param="account_id")

    def _holds_closed(self, closing_id: int) -> bool:
        state = self.ledger.pending_state(closing_id)
        return state is not None and state.status == PendingStatus.PENDING

    def _ledger_account(self, account: DepositAccount) -> Account | None:
        found = self.ledger.lookup_accounts([account.id])
        return found[0] if found else None

    def _reopen(self, account: DepositAccount) -> None:
        """Undo a close that the ledger made but the record never followed: void the closing still pending."""
        # Every id of the sequence is looked at, not only up to the first unused one: a closing the ledger refused
        # has no pending state either, and the next id may be the one that closed it. This path is rare (a close
        # cut short by a crash), and the first id is almost always the one.
        for n in range(MAX_CLOSINGS):
            closing_id = closing_transfer_id(account.id, n)
            if self._holds_closed(closing_id):
                self._void_closing(closing_id)
                return

    def _void_closing(self, closing_id: int) -> None:
        result = self.ledger.reopen_account(closing_id, void_transfer_id=derive_id(closing_id, "void"))
        if result.value not in ("ok", "exists"):
            raise RuntimeError(f"could not reopen the account: {result.value}")

    # -- the counter: cash deposits -------------------------------------------------------------------------

    def deposit_cash(
        self,
        staff: Principal,
        account_id: int,
        amount: int,
        deposit_id: int,
        respond: Callable[[AccountView], Reply] | None = None,
    ) -> AccountView:
        """A teller takes cash for a customer's account: settlement → customer, idempotent by ``deposit_id``.

        ``respond`` makes the caller's answer (the API's idempotent response) from the account as it stands after the
        deposit, stored in the unit of work that writes the deposit's audit record, so that a retry
        after a crash either replays that answer or finds no audit record yet and writes it, never a second one.
        """
        account = self.store.get(account_id)
        if account is None:
            raise NotFound("no such account", param="account_id")
        transfer = Transfer(
            deposit_id,
            bank_account_id(account.ledger, AccountCode.BANK_SETTLEMENT),
            account.id,
            amount,
            account.ledger,
            TransferCode.DEPOSIT,
        )
        result = self.ledger.create_transfers([transfer])[0]
        if result.value not in ("ok", "exists"):
            raise Conflict(f"the deposit was refused: {result.value}", param="account_id")
        now = self.d.now()
        public = format_id(IdKind.ACCOUNT, account.id)
        view = self.view(account)  # the ledger has the deposit: this is the balance after it
        with self.d.uow.begin() as tx:
            self.d.audit.append(tx, audit_by(staff, "account.cash_deposited", public, now, amount=amount))
            if respond is not None:
                self.replies.complete_many(tx, [respond(view)])
        return view
