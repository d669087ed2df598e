"""Payees: ``/v1/payees``."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from pocketbank.api.deps import ContainerDep, CurrentCustomer
from pocketbank.api.pagination import ListPage
from pocketbank.domain.ids import IdKind, format_id, parse_id
from pocketbank.domain.payees import Payee

router = APIRouter(prefix="/v1/payees", tags=["payees"])


class PayeeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    account_id: str = Field(max_length=40, description="The payee's PocketBank account number (acct_…)")


class PayeeOut(BaseModel):
    object: Literal["payee"] = "payee"
    id: str
    name: str
    account_id: str
    currency: str
    added_at: int


def payee_out(p: Payee) -> PayeeOut:
    return PayeeOut(
        id=format_id(IdKind.PAYEE, p.id),
        name=p.name,
        account_id=format_id(IdKind.ACCOUNT, p.account_id),
        currency=p.currency,
        added_at=p.added_at,
    )


@router.post("", operation_id="add_payee", status_code=201)
def add_payee(body: PayeeIn, container: ContainerDep, customer: CurrentCustomer) -> PayeeOut:
    account = parse_id(IdKind.ACCOUNT, body.account_id, param="account_id")
    return payee_out(container.payees.add(customer, body.name, account))


@router.get("", operation_id="list_payees")
def list_payees(request: Request, container: ContainerDep, customer: CurrentCustomer) -> ListPage[PayeeOut]:
    return ListPage(data=[payee_out(p) for p in container.payees.list(customer)], has_more=False, url=request.url.path)


@router.delete("/{payee_id}", operation_id="remove_payee", status_code=204)
def remove_payee(payee_id: str, container: ContainerDep, customer: CurrentCustomer) -> Response:
    container.payees.remove(customer, parse_id(IdKind.PAYEE, payee_id, param="payee_id"))
    return Response(status_code=204)
