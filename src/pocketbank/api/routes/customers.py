"""Sign-up and the customer's own profile: ``/v1/registrations``, ``/v1/customers``."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from pocketbank.api.deps import ContainerDep, CurrentCustomer
from pocketbank.api.schemas.auth import (
    CustomerCreateIn,
    CustomerOut,
    RegistrationOut,
    RegistrationStartIn,
    RegistrationStartOut,
    SessionOut,
    channel_of,
    ts,
)

router = APIRouter(prefix="/v1", tags=["customers"])


def client_key(request: Request) -> str:
    """Who is calling, for per-client rate limits (behind a proxy, configure uvicorn's --forwarded-allow-ips)."""
    return request.client.host if request.client else "unknown"


@router.post("/registrations", operation_id="start_registration", status_code=status.HTTP_202_ACCEPTED)
def start_registration(body: RegistrationStartIn, request: Request, c: ContainerDep) -> RegistrationStartOut:
    """Text a sign-up code to the number. The answer is the same whether or not the number already banks here."""
    started = c.customers.start_registration(body.phone, channel_of(body.channel), client_key(request))
    return RegistrationStartOut(phone=started.phone, expires_at=ts(started.expires_at))


@router.post("/customers", operation_id="create_customer", status_code=status.HTTP_201_CREATED)
def create_customer(body: CustomerCreateIn, request: Request, c: ContainerDep) -> RegistrationOut:
    """Complete sign-up with the SMS code: a class II customer, this device trusted, and a session."""
    reg = c.customers.register(
        phone=body.phone,
        code=body.code,
        password=body.password,
        name=body.name,
        id_kind=body.id_kind,
        id_number=body.id_number,
        device_label=body.device_label,
        channel=channel_of(body.channel),
        client_key=client_key(request),
    )
    return RegistrationOut(
        customer=CustomerOut.of(reg.customer), session=SessionOut.of(reg.session), account_id=reg.account_id
    )


@router.get("/customers/me", operation_id="get_me")
def get_me(customer: CurrentCustomer, c: ContainerDep) -> CustomerOut:
    """The logged-in customer's profile."""
    return CustomerOut.of(c.customers.get_customer(customer))
