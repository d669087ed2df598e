"""Accounts and their transaction history: ``/v1/accounts``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from pocketbank.api.deps import BearerCredentials, ContainerDep, CurrentCustomer, as_customer
from pocketbank.api.pagination import MAX_LIMIT, ListPage
from pocketbank.domain.accounts import DepositAccount
from pocketbank.domain.ids import IdKind, format_id, parse_id
from pocketbank.domain.principals import Principal
from pocketbank.errors import InvalidParameter
from pocketbank.services.accounts import AccountView
from pocketbank.services.statements import TYPE_NAMES, Direction, StatementEntry, StatementQuery

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])


class AccountOut(BaseModel):
    object: Literal["account"] = "account"
    id: str
    currency: str
    status: str
    is_default: bool
    balance: int = Field(description="Ledger balance in minor units")
    available: int = Field(description="Balance less holds, in minor units")
    pending_in: int
    opened_at: int


class OpenAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")
    currency: str = Field(min_length=3, max_length=3, examples=["USD"])


class EntryOut(BaseModel):
    object: Literal["transaction"] = "transaction"
    id: str
    created: int
    direction: Direction
    type: str
    status: str
    amount: int
    currency: str
    counterparty: str
    fee: int
    channel: str | None
    transfer: str | None
    memo: str
    balance_after: int | None


def account_out(v: AccountView) -> AccountOut:
    a: DepositAccount = v.account
    return AccountOut(
        id=v.public_id,
        currency=a.currency,
        status=a.status.value,
        is_default=a.is_default,
        balance=v.balance,
        available=v.available,
        pending_in=v.pending_in,
        opened_at=a.opened_at,
    )


def entry_out(e: StatementEntry) -> EntryOut:
    t = e.transfer
    main_leg = t is not None and e.type in ("intra_bank", "reversal")
    return EntryOut(
        id=format_id(IdKind.TRANSFER, e.id),
        created=e.at,
        direction=e.direction,
        type=e.type,
        status=e.status,
        amount=e.amount,
        currency=e.currency,
        counterparty="bank" if e.counterparty_is_bank else format_id(IdKind.ACCOUNT, e.counterparty),
        fee=t.fee if t is not None and main_leg and e.direction is Direction.OUT else 0,
        channel=t.channel if t is not None else None,
        transfer=format_id(IdKind.TRANSFER, t.id) if t is not None else None,
        memo=t.memo if t is not None else "",
        balance_after=e.balance_after,
    )


# The reads a phone makes most (balances when the app opens, the statement) take the hot routes' way
# (``as_customer``).


@router.get("", operation_id="list_accounts")
async def list_accounts(
    request: Request, container: ContainerDep, credentials: BearerCredentials
) -> ListPage[AccountOut]:
    def work(customer: Principal) -> ListPage[AccountOut]:
        views = container.accounts.list_accounts(customer)
        return ListPage(data=[account_out(v) for v in views], has_more=False, url=request.url.path)

    return await as_customer(request, credentials, work)


@router.post("", operation_id="open_account", status_code=201)
def open_account(body: OpenAccount, container: ContainerDep, customer: CurrentCustomer) -> AccountOut:
    return account_out(container.accounts.open_account(customer, body.currency))


@router.get("/{account_id}", operation_id="get_account")
async def get_account(
    request: Request, account_id: str, container: ContainerDep, credentials: BearerCredentials
) -> AccountOut:
    def work(customer: Principal) -> AccountOut:
        target = parse_id(IdKind.ACCOUNT, account_id, param="account_id")
        return account_out(container.accounts.get_account(customer, target))

    return await as_customer(request, credentials, work)


@router.post("/{account_id}/close", operation_id="close_account")
def close_account(account_id: str, container: ContainerDep, customer: CurrentCustomer) -> AccountOut:
    target = parse_id(IdKind.ACCOUNT, account_id, param="account_id")
    return account_out(container.accounts.close_account(customer, target))


@router.get("/{account_id}/transactions", operation_id="list_account_transactions")
async def list_transactions(
    request: Request,
    account_id: str,
    container: ContainerDep,
    credentials: BearerCredentials,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    starting_after: Annotated[str | None, Query(max_length=40)] = None,
    created_gte: Annotated[int | None, Query(ge=0, description="ns since the epoch")] = None,
    created_lte: Annotated[int | None, Query(ge=0)] = None,
    direction: Direction | None = None,
    type: Annotated[list[str] | None, Query(description=f"one of {sorted(TYPE_NAMES)}")] = None,
    amount_gte: Annotated[int | None, Query(ge=0)] = None,
    amount_lte: Annotated[int | None, Query(ge=0)] = None,
) -> ListPage[EntryOut]:
    """The account's entries, newest first; page with ``starting_after`` = the last entry's id."""

    def work(customer: Principal) -> ListPage[EntryOut]:
        types = frozenset(type or [])
        if types - TYPE_NAMES:
            raise InvalidParameter(f"unknown transaction type {sorted(types - TYPE_NAMES)}", param="type")
        if created_lte == 0:  # every entry was made after the epoch: nothing is that old
            return ListPage(data=[], has_more=False, url=request.url.path)
        query = StatementQuery(
            since=created_gte or 0,
            until=created_lte or 0,
            direction=direction,
            types=types,
            amount_min=amount_gte,
            amount_max=amount_lte,
            limit=limit,
            starting_after=parse_id(IdKind.TRANSFER, starting_after, param="starting_after")
            if starting_after
            else None,
        )
        target = parse_id(IdKind.ACCOUNT, account_id, param="account_id")
        entries, more = container.statements.entries(customer, target, query)
        return ListPage(data=[entry_out(e) for e in entries], has_more=more, url=request.url.path)

    return await as_customer(request, credentials, work)
