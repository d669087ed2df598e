"""Intra-bank transfers: ``/v1/transfers`` (quote, create with Idempotency-Key and step-up, get, cancel)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from pocketbank.api.deps import BearerCredentials, ContainerDep, CurrentCustomer, as_customer
from pocketbank.api.idempotency import Completion, run_idempotent
from pocketbank.domain.arrival import ArrivalMode
from pocketbank.domain.ids import IdKind, format_id, parse_id
from pocketbank.domain.ledger import AMOUNT_MAX
from pocketbank.domain.principals import Principal
from pocketbank.domain.transfers import TransferRecord
from pocketbank.services.ports import Reply
from pocketbank.services.transfer_ports import Respond
from pocketbank.services.transfers import Quote, StepUpProof, TransferDraft

router = APIRouter(prefix="/v1/transfers", tags=["transfers"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


class StepUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    challenge_id: str = Field(max_length=40)
    code: str = Field(min_length=4, max_length=12)


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_account: str = Field(max_length=40)
    to_account: str | None = Field(default=None, max_length=40, description="One of your own accounts")
    payee_id: str | None = Field(default=None, max_length=40, description="A saved payee")
    amount: int = Field(description="Minor units of the currency (fen for CNY)", gt=0, le=AMOUNT_MAX, strict=True)
    currency: str = Field(min_length=3, max_length=3)
    arrival: ArrivalMode = ArrivalMode.REAL_TIME
    memo: str = Field(default="", max_length=140)
    step_up: StepUpIn | None = None

    @model_validator(mode="after")
    def one_destination(self) -> TransferIn:
        if (self.to_account is None) == (self.payee_id is None):
            raise ValueError("name exactly one of to_account and payee_id")
        return self

    def draft(self) -> TransferDraft:
        return TransferDraft(
            from_account=parse_id(IdKind.ACCOUNT, self.from_account, param="from_account"),
            to_account=parse_id(IdKind.ACCOUNT, self.to_account, param="to_account") if self.to_account else None,
            payee_id=parse_id(IdKind.PAYEE, self.payee_id, param="payee_id") if self.payee_id else None,
            amount=self.amount,
            currency=self.currency.upper(),
            arrival=self.arrival,
            memo=self.memo,
        )


class QuoteIn(TransferIn):
    step_up: None = None


class QuoteOut(BaseModel):
    object: Literal["transfer_quote"] = "transfer_quote"
    amount: int
    currency: str
    fee: int
    fee_waived: bool
    fee_note: str | None = Field(description="Says plainly when the fee is waived on this channel")
    counter_fee: int | None
    total: int
    arrival: ArrivalMode
    arrives_at: int | None = Field(description="ns since the epoch; null = immediately")
    payee_name: str | None


class TransferOut(BaseModel):
    object: Literal["transfer"] = "transfer"
    id: str
    status: str = Field(
        description="processing, failed, posted, scheduled (delayed or next-day, until it arrives), cancelled, "
        "reversing (a supervisor's reversal under way) or reversed"
    )
    from_account: str
    to_account: str
    payee_id: str | None
    amount: int
    currency: str
    fee: int
    channel: str
    auth_method: str
    arrival: str
    arrives_at: int | None
    created: int
    memo: str
    reason: str


def transfer_out(t: TransferRecord) -> TransferOut:
    return TransferOut(
        id=format_id(IdKind.TRANSFER, t.id),
        status=t.status.value,
        from_account=format_id(IdKind.ACCOUNT, t.from_account),
        to_account=format_id(IdKind.ACCOUNT, t.to_account),
        payee_id=format_id(IdKind.PAYEE, t.payee_id) if t.payee_id else None,
        amount=t.amount,
        currency=t.currency,
        fee=t.fee,
        channel=t.channel,
        auth_method=t.auth_method,
        arrival=t.arrival,
        arrives_at=t.scheduled_for,
        created=t.created_at,
        memo=t.memo,
        reason=t.reason,
    )


def created(complete: Completion, create: Callable[[Respond], TransferRecord]) -> tuple[int, object]:
    """A new transfer's 201, stored with its outcome: ``create`` runs the service with a ``respond`` that makes it,
    for the unit of work that records the transfer (see ``run_idempotent``, which then answers with exactly that)."""

    def respond(done: TransferRecord) -> Reply:
        return complete.reply(201, transfer_out(done).model_dump(mode="json"))

    record = create(respond)
    if complete.stored is not None:
        return 201, None
    return 201, transfer_out(record).model_dump(mode="json")  # e.g. a retry that found the transfer done


def quote_out(q: Quote) -> QuoteOut:
    return QuoteOut(
        amount=q.amount,
        currency=q.currency,
        fee=q.fee.fee.minor,
        fee_waived=q.fee.waived,
        fee_note=q.fee.waiver_reason,
        counter_fee=q.fee.counter_fee.minor if q.fee.counter_fee is not None else None,
        total=q.total,
        arrival=q.arrival,
        arrives_at=q.scheduled_for,
        payee_name=q.payee_name,
    )


@router.post("/quote", operation_id="quote_transfer")
def quote_transfer(body: QuoteIn, container: ContainerDep, customer: CurrentCustomer) -> QuoteOut:
    """Fee and arrival time before confirmation (nothing is reserved)."""
    return quote_out(container.transfers.quote(customer, body.draft()))


@router.post(
    "",
    operation_id="create_transfer",
    status_code=201,
    response_model=TransferOut,
    responses={402: {"description": "insufficient_funds or limit_exceeded"}},
)
async def create_transfer(
    request: Request,
    body: TransferIn,
    container: ContainerDep,
    credentials: BearerCredentials,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Move money. Needs an ``Idempotency-Key`` and a step-up proof bound to this amount and payee."""
    proof = StepUpProof(body.step_up.challenge_id, body.step_up.code) if body.step_up else None
    payload = body.model_dump(mode="json", exclude={"step_up"})

    def work(customer: Principal) -> Response:
        draft = body.draft()

        def call(complete: Completion) -> tuple[int, object]:
            return created(
                complete,
                lambda respond: container.transfers.create(customer, draft, idempotency_key or "", proof, respond),
            )

        now = container.clock.now_ns()
        return run_idempotent(request, container.idempotency, now, customer.public_id, idempotency_key, payload, call)

    return await as_customer(request, credentials, work)


@router.get("/{transfer_id}", operation_id="get_transfer")
def get_transfer(transfer_id: str, container: ContainerDep, customer: CurrentCustomer) -> TransferOut:
    return transfer_out(container.transfers.get(customer, parse_id(IdKind.TRANSFER, transfer_id, param="transfer_id")))


@router.post("/{transfer_id}/cancel", operation_id="cancel_transfer")
def cancel_transfer(transfer_id: str, container: ContainerDep, customer: CurrentCustomer) -> TransferOut:
    """Cancel a delayed or next-day transfer before it arrives: the held money is released."""
    target = parse_id(IdKind.TRANSFER, transfer_id, param="transfer_id")
    return transfer_out(container.transfers.cancel(customer, target))
