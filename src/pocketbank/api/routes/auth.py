"""Login, sessions, password, devices, TOTP, PIN and step-up challenges."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response, status

from pocketbank.api.deps import ContainerDep, CurrentCustomer, current_principal
from pocketbank.api.routes.customers import client_key
from pocketbank.api.schemas.auth import (
    CodeIn,
    DeviceChallengeOut,
    DeviceConfirmIn,
    DeviceList,
    DeviceOut,
    LoginIn,
    LogoutAllOut,
    PasswordChangeIn,
    PasswordChangeOut,
    PinIn,
    RefreshIn,
    SessionOut,
    StepUpChallengeIn,
    StepUpChallengeOut,
    TotpEnrolmentOut,
    TotpOut,
    channel_of,
)
from pocketbank.domain.channels import AuthMethod
from pocketbank.domain.money import Money, default_registry
from pocketbank.domain.principals import Principal
from pocketbank.domain.stepup import binding_digest
from pocketbank.errors import PocketBankError
from pocketbank.services.second_factors import pin_binding

router = APIRouter(prefix="/v1", tags=["auth"])
AnyPrincipal = Annotated[Principal, Depends(current_principal)]


@router.post(
    "/sessions",
    operation_id="login",
    status_code=status.HTTP_201_CREATED,
    responses={202: {"model": DeviceChallengeOut, "description": "New device: confirm with the SMS code"}},
)
def login(body: LoginIn, request: Request, response: Response, c: ContainerDep) -> SessionOut | DeviceChallengeOut:
    """Log in with number and password. A trusted device gets a session (201); a new one an SMS challenge (202)."""
    result = c.auth.login(
        body.phone, body.password, body.device_id, body.device_label, channel_of(body.channel), client_key(request)
    )
    if result.session is not None:
        return SessionOut.of(result.session)
    assert result.challenge is not None
    response.status_code = status.HTTP_202_ACCEPTED
    return DeviceChallengeOut.of(result.challenge)


@router.post("/sessions/device-confirmations", operation_id="confirm_device", status_code=status.HTTP_201_CREATED)
def confirm_device(body: DeviceConfirmIn, request: Request, c: ContainerDep) -> SessionOut:
    """Trust the new device with the SMS code from the login challenge, and start the session."""
    tokens = c.auth.confirm_device(body.challenge_id, body.code, channel_of(body.channel), client_key(request))
    return SessionOut.of(tokens)


@router.post("/sessions/refresh", operation_id="refresh_session")
def refresh_session(body: RefreshIn, c: ContainerDep) -> SessionOut:
    """Swap the refresh token for new tokens. A refresh token works once; reusing one ends the session."""
    return SessionOut.of(c.auth.refresh(body.refresh_token))


@router.delete("/sessions/current", operation_id="logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(principal: AnyPrincipal, c: ContainerDep) -> None:
    """End this session."""
    c.auth.logout(principal)


@router.post("/sessions/logout-all", operation_id="logout_everywhere")
def logout_everywhere(principal: AnyPrincipal, c: ContainerDep) -> LogoutAllOut:
    """End every session of the caller, this one included."""
    return LogoutAllOut(sessions_ended=c.auth.logout_everywhere(principal))


@router.post("/password", operation_id="change_password")
def change_password(body: PasswordChangeIn, customer: CurrentCustomer, c: ContainerDep) -> PasswordChangeOut:
    """Change the password; every other session ends."""
    ended = c.auth.change_password(customer, body.old_password, body.new_password)
    return PasswordChangeOut(other_sessions_ended=ended)


@router.get("/devices", operation_id="list_devices")
def list_devices(customer: CurrentCustomer, c: ContainerDep) -> DeviceList:
    """The caller's devices, trusted or not."""
    return DeviceList(data=[DeviceOut.of(d) for d in c.auth.list_devices(customer)])


@router.delete("/devices/{device_id}", operation_id="revoke_device", status_code=status.HTTP_204_NO_CONTENT)
def revoke_device(device_id: Annotated[str, Path(max_length=40)], customer: CurrentCustomer, c: ContainerDep) -> None:
    """Stop trusting a device and end its sessions."""
    c.auth.revoke_device(customer, device_id)


@router.post("/totp", operation_id="enroll_totp", status_code=status.HTTP_201_CREATED)
def enroll_totp(customer: CurrentCustomer, c: ContainerDep) -> TotpEnrolmentOut:
    """Start enrolling an authenticator app: the secret is shown this once."""
    enrolment = c.auth.enroll_totp(customer)
    return TotpEnrolmentOut(secret=enrolment.secret, otpauth_uri=enrolment.uri)


@router.post("/totp/confirm", operation_id="confirm_totp")
def confirm_totp(body: CodeIn, customer: CurrentCustomer, c: ContainerDep) -> TotpOut:
    """Activate the authenticator with its current code; other sessions end."""
    c.auth.confirm_totp(customer, body.code)
    return TotpOut(enabled=True)


@router.post("/pin/challenges", operation_id="start_pin_change", status_code=status.HTTP_201_CREATED)
def start_pin_change(customer: CurrentCustomer, c: ContainerDep) -> StepUpChallengeOut:
    """Text a code that approves setting the transaction PIN."""
    challenge = c.auth.create_challenge(
        customer, AuthMethod.SMS, pin_binding(customer.public_id), c.clock.now_ns(), summary="setting your PIN"
    )
    return StepUpChallengeOut.of(challenge)


@router.post("/pin", operation_id="set_pin", status_code=status.HTTP_204_NO_CONTENT)
def set_pin(body: PinIn, customer: CurrentCustomer, c: ContainerDep) -> None:
    """Set the 6-digit transaction PIN, approved by the code from ``POST /v1/pin/challenges``."""
    c.auth.set_pin(customer, body.pin, body.challenge_id, body.code)


def _summary(amount: int, currency: str, payee: str) -> str:
    try:
        shown = str(Money(amount, default_registry().get(currency)))
    except PocketBankError:
        shown = f"{amount} minor units of {currency}"
    return f"paying {shown} to {payee}"


@router.post("/step-up/challenges", operation_id="create_step_up_challenge", status_code=status.HTTP_201_CREATED)
def create_step_up_challenge(body: StepUpChallengeIn, customer: CurrentCustomer, c: ContainerDep) -> StepUpChallengeOut:
    """A challenge bound to this exact amount, currency and payee; its code approves that payment only."""
    binding = binding_digest(customer.public_id, body.amount, body.currency, body.payee)
    challenge = c.auth.create_challenge(
        customer,
        AuthMethod(body.method),
        binding,
        c.clock.now_ns(),
        summary=_summary(body.amount, body.currency, body.payee),
    )
    return StepUpChallengeOut.of(challenge)
