"""Request and response bodies of the customers, auth and staff routes (no hash or TOTP seed ever leaves here)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pocketbank.domain.channels import Channel
from pocketbank.domain.customers import IdKind
from pocketbank.services.auth import DeviceChallenge, DeviceView
from pocketbank.services.customers import CustomerView
from pocketbank.services.second_factors import StepUpChallenge
from pocketbank.services.sessions import SessionTokens

CustomerChannel = Literal["mobile", "online", "open_api"]
Phone = Field(min_length=1, max_length=32, description="11-digit mainland mobile number, or E.164 (+…)")
Secret = Field(min_length=1, max_length=1024)
Code = Field(min_length=1, max_length=16, description="The one-time code from the SMS or authenticator app")


def ts(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1_000_000_000, UTC)


def channel_of(value: CustomerChannel) -> Channel:
    return Channel(value)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegistrationStartIn(Body):
    phone: str = Phone
    channel: CustomerChannel = "mobile"


class RegistrationStartOut(BaseModel):
    object: Literal["registration"] = "registration"
    phone: str
    expires_at: datetime


class CustomerCreateIn(Body):
    phone: str = Phone
    code: str = Code
    password: str = Secret
    name: str = Field(min_length=1, max_length=256)
    id_kind: IdKind
    id_number: str = Field(min_length=1, max_length=64)
    device_label: str = Field(default="phone", max_length=64)
    channel: CustomerChannel = "mobile"


class CustomerOut(BaseModel):
    object: Literal["customer"] = "customer"
    id: str
    phone: str
    name: str
    id_kind: IdKind
    id_number_masked: str
    account_class: int
    status: str
    created_at: datetime
    totp_enabled: bool
    pin_set: bool

    @classmethod
    def of(cls, v: CustomerView) -> CustomerOut:
        return cls(
            id=v.id, phone=v.phone, name=v.name, id_kind=v.id_kind, id_number_masked=v.id_number_masked,
            account_class=int(v.account_class), status=v.status.value, created_at=ts(v.created_at),
            totp_enabled=v.totp_enabled, pin_set=v.pin_set,
        )  # fmt: skip


class SessionOut(BaseModel):
    object: Literal["session"] = "session"
    id: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    device_id: str | None

    @classmethod
    def of(cls, t: SessionTokens) -> SessionOut:
        return cls(
            id=t.session_id, access_token=t.access_token, access_expires_at=ts(t.access_expires_at),
            refresh_token=t.refresh_token, refresh_expires_at=ts(t.refresh_expires_at), device_id=t.device_id,
        )  # fmt: skip


class RegistrationOut(BaseModel):
    object: Literal["customer_registration"] = "customer_registration"
    customer: CustomerOut
    session: SessionOut
    account_id: str | None


class LoginIn(Body):
    phone: str = Phone
    password: str = Secret
    device_id: str | None = Field(default=None, max_length=40, description="dev_… from an earlier login")
    device_label: str = Field(default="phone", max_length=64)
    channel: CustomerChannel = "mobile"


class DeviceChallengeOut(BaseModel):
    object: Literal["device_challenge"] = "device_challenge"
    challenge_id: str
    device_id: str
    expires_at: datetime

    @classmethod
    def of(cls, c: DeviceChallenge) -> DeviceChallengeOut:
        return cls(challenge_id=c.challenge_id, device_id=c.device_id, expires_at=ts(c.expires_at))


class DeviceConfirmIn(Body):
    challenge_id: str = Field(min_length=1, max_length=40)
    code: str = Code
    channel: CustomerChannel = "mobile"


class RefreshIn(Body):
    refresh_token: str = Field(min_length=1, max_length=256)


class LogoutAllOut(BaseModel):
    object: Literal["logout"] = "logout"
    sessions_ended: int


class PasswordChangeIn(Body):
    old_password: str = Secret
    new_password: str = Secret


class PasswordChangeOut(BaseModel):
    object: Literal["password_change"] = "password_change"
    other_sessions_ended: int


class DeviceOut(BaseModel):
    object: Literal["device"] = "device"
    id: str
    label: str
    created_at: datetime
    trusted_at: datetime | None
    revoked_at: datetime | None
    last_seen_at: datetime | None
    current: bool

    @classmethod
    def of(cls, d: DeviceView) -> DeviceOut:
        def opt(ns: int | None) -> datetime | None:
            return None if ns is None else ts(ns)

        return cls(
            id=d.id, label=d.label, created_at=ts(d.created_at), trusted_at=opt(d.trusted_at),
            revoked_at=opt(d.revoked_at), last_seen_at=opt(d.last_seen_at), current=d.current,
        )  # fmt: skip


class DeviceList(BaseModel):
    object: Literal["list"] = "list"
    data: list[DeviceOut]
    has_more: bool = False


class TotpEnrolmentOut(BaseModel):
    object: Literal["totp_enrolment"] = "totp_enrolment"
    secret: str
    otpauth_uri: str


class CodeIn(Body):
    code: str = Code


class TotpOut(BaseModel):
    object: Literal["totp"] = "totp"
    enabled: bool


class PinIn(Body):
    pin: str = Field(min_length=1, max_length=16)
    challenge_id: str = Field(min_length=1, max_length=40)
    code: str = Code


class StepUpChallengeIn(Body):
    method: Literal["sms", "totp", "pin"]
    amount: int = Field(gt=0, le=2**63 - 1, description="Minor units, as in the payment it approves")
    currency: str = Field(pattern=r"^[A-Z0-9-]{3,16}$")
    payee: str = Field(min_length=1, max_length=64, description="acct_… or pye_… exactly as in the payment")


class StepUpChallengeOut(BaseModel):
    object: Literal["step_up_challenge"] = "step_up_challenge"
    id: str
    method: str
    expires_at: datetime

    @classmethod
    def of(cls, c: StepUpChallenge) -> StepUpChallengeOut:
        return cls(id=c.id, method=c.method.value, expires_at=ts(c.expires_at))


class StaffLoginIn(Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Secret


class UpgradeIn(Body):
    account_class: Literal[1, 2, 3]
    reason: str = Field(min_length=1, max_length=500)
