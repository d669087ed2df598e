"""The counter channel's money operations: ``/v1/staff/transfers`` and ``/v1/staff/deposits``.

A teller acts for a customer who proved their identity in person, so no step-up code is asked; counter fees apply.
Reversing a posted transfer is for supervisors only, with a reason, and is audited.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from pocketbank.api.deps import ContainerDep, CurrentStaff
from pocketbank.api.idempotency import Completion, run_idempotent
from pocketbank.api.routes.accounts import AccountOut, account_out
from pocketbank.api.routes.transfers import TransferOut, created, transfer_out
from pocketbank.domain.accounts import derive_id
from pocketbank.domain.arrival import ArrivalMode
from pocketbank.domain.ids import IdKind, parse_id
from pocketbank.domain.ledger import AMOUNT_MAX
from pocketbank.domain.principals import StaffRole
from pocketbank.errors import Forbidden
from pocketbank.services.accounts import AccountView
from pocketbank.services.ports import Reply
from pocketbank.services.transfers import TransferDraft

router = APIRouter(prefix="/v1/staff", tags=["staff"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


class CounterTransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_id: str = Field(max_length=40)
    from_account: str = Field(max_length=40)
    to_account: str = Field(max_length=40)
    amount: int = Field(gt=0, le=AMOUNT_MAX, strict=True)
    currency: str = Field(min_length=3, max_length=3)
    arrival: ArrivalMode = ArrivalMode.REAL_TIME
    memo: str = Field(default="", max_length=140)


class ReversalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=280)


class DepositIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: str = Field(max_length=40)
    amount: int = Field(gt=0, le=AMOUNT_MAX, strict=True)


@router.post("/transfers", operation_id="create_counter_transfer", status_code=201, response_model=TransferOut)
def create_counter_transfer(
    request: Request,
    body: CounterTransferIn,
    container: ContainerDep,
    staff: CurrentStaff,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    customer_id = parse_id(IdKind.CUSTOMER, body.customer_id, param="customer_id")
    draft = TransferDraft(
        from_account=parse_id(IdKind.ACCOUNT, body.from_account, param="from_account"),
        to_account=parse_id(IdKind.ACCOUNT, body.to_account, param="to_account"),
        amount=body.amount,
        currency=body.currency.upper(),
        arrival=body.arrival,
        memo=body.memo,
    )

    def call(complete: Completion) -> tuple[int, object]:
        key = idempotency_key or ""
        return created(
            complete, lambda respond: container.transfers.create_at_counter(staff, customer_id, draft, key, respond)
        )

    payload = body.model_dump(mode="json")
    now = container.clock.now_ns()
    return run_idempotent(request, container.idempotency, now, staff.public_id, idempotency_key, payload, call)


@router.post("/transfers/{transfer_id}/reverse", operation_id="reverse_transfer")
def reverse_transfer(transfer_id: str, body: ReversalIn, container: ContainerDep, staff: CurrentStaff) -> TransferOut:
    if staff.role is not StaffRole.SUPERVISOR:
        raise Forbidden("only a supervisor can reverse a transfer")
    target = parse_id(IdKind.TRANSFER, transfer_id, param="transfer_id")
    return transfer_out(container.transfers.reverse(staff, target, body.reason))


@router.post("/deposits", operation_id="deposit_cash", response_model=AccountOut)
def deposit_cash(
    request: Request,
    body: DepositIn,
    container: ContainerDep,
    staff: CurrentStaff,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Cash paid in at the counter (the demo's and tests' way of putting money in an account)."""
    account = parse_id(IdKind.ACCOUNT, body.account_id, param="account_id")

    def call(complete: Completion) -> tuple[int, object]:
        deposit_id = derive_id("deposit", staff.id, idempotency_key)

        def respond(view: AccountView) -> Reply:  # stored with the deposit's audit record
            return complete.reply(200, account_out(view).model_dump(mode="json"))

        view = container.accounts.deposit_cash(staff, account, body.amount, deposit_id, respond)
        return 200, account_out(view).model_dump(mode="json")

    payload = body.model_dump(mode="json")
    now = container.clock.now_ns()
    return run_idempotent(request, container.idempotency, now, staff.public_id, idempotency_key, payload, call)
