"""Payees: add, list, remove. Adding one starts its cooling-off window (see ``domain.payees``)."""

from __future__ import annotations

from typing import Protocol

from pocketbank.domain.audit import audit_by
from pocketbank.domain.customers import normalise_name
from pocketbank.domain.events import DomainEvent
from pocketbank.domain.ids import IdKind, format_id
from pocketbank.domain.payees import Payee
from pocketbank.domain.principals import Principal
from pocketbank.errors import Conflict, NotFound, SameAccount
from pocketbank.services.accounts import AccountService
from pocketbank.services.ports import Tx
from pocketbank.services.unit import UnitDeps

MAX_PAYEES = 200


class PayeeStore(Protocol):
    def insert(self, tx: Tx, p: Payee) -> None: ...

    def get(self, customer_id: int, payee_id: int) -> Payee | None: ...

    def list_for_customer(self, customer_id: int) -> list[Payee]: ...

    def remove(self, tx: Tx, payee_id: int, at: int) -> None: ...


class PayeeService:
    def __init__(
        self,
        deps: UnitDeps,
        store: PayeeStore,
        accounts: AccountService,
    ) -> None:
        self.d, self.store, self.accounts = deps, store, accounts

    def add(self, principal: Principal, name: str, account_id: int) -> Payee:
        name = normalise_name(name)
        target = self.accounts.find(account_id)
        # An unknown account number is refused with the same code as a foreign one: no account enumeration.
        if target is None:
            raise NotFound("no account with this number", param="account_id")
        if target.customer_id == principal.id:
            raise SameAccount("your own accounts need no payee", param="account_id")
        if len(self.store.list_for_customer(principal.id)) >= MAX_PAYEES:
            raise Conflict(f"a customer can keep at most {MAX_PAYEES} payees; remove one first", param="account_id")
        now = self.d.now()
        payee = Payee(self.d.ids.new(), principal.id, name, target.id, target.currency, now)
        public = format_id(IdKind.PAYEE, payee.id)
        event = DomainEvent(
            format_id(IdKind.EVENT, self.d.ids.new()), "payee.added", now, principal.channel, {"payee": public}
        )
        with self.d.uow.begin() as tx:
            self.store.insert(tx, payee)
            self.d.audit.append(tx, audit_by(principal, "payee.added", public, now))
            self.d.outbox.add(tx, event)
        self.d.bus.publish([event])
        return payee

    def list(self, principal: Principal) -> list[Payee]:
        return self.store.list_for_customer(principal.id)

    def get(self, principal: Principal, payee_id: int) -> Payee:
        payee = self.find(principal, payee_id)
        if payee is None:
            raise NotFound("no such payee", param="payee_id")
        return payee

    def find(self, principal: Principal, payee_id: int) -> Payee | None:
        """The caller's own payee, unless removed; None otherwise (someone else's payee is never found)."""
        payee = self.store.get(principal.id, payee_id)
        return payee if payee is not None and payee.usable_by(principal.id) else None

    def remove(self, principal: Principal, payee_id: int) -> None:
        payee = self.get(principal, payee_id)
        now = self.d.now()
        public = format_id(IdKind.PAYEE, payee.id)
        with self.d.uow.begin() as tx:
            self.store.remove(tx, payee.id, now)
            self.d.audit.append(tx, audit_by(principal, "payee.removed", public, now))
