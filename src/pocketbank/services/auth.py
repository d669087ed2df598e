"""Login, new-device confirmation, sessions, password change, devices, and the second factors (``AuthService``).

**No user enumeration.** An unknown mobile number and a wrong password get the same ``invalid_credentials``
(401), and an unknown number still costs one argon2id verification against a dummy hash, so timing does not tell
them apart either (ASVS 6.3.8, PSD2 RTS Art. 4(3)(a)).

**Lockout.** The 5th consecutive failed login locks the account, with a back-off that doubles (``auth_common``,
shared with staff logins); rate limits per number and per client bound guessing further.

**New devices.** A correct password on a device the bank has not seen (or no longer trusts) gets no session: it
gets a ``DeviceChallenge`` and an SMS code to the registered number. ``confirm_device`` with that code trusts
the device, records when (new payees right after are capped, see ``device_trusted_at``), and starts the session.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from pocketbank.domain.audit import audit_by
from pocketbank.domain.channels import AuthMethod, Channel
from pocketbank.domain.customers import CustomerStatus, normalise_phone
from pocketbank.domain.ids import IdKind, format_id, parse_id
from pocketbank.domain.passwords import check_password, normalise_password
from pocketbank.domain.principals import Principal, PrincipalKind
from pocketbank.errors import Forbidden, InvalidCode, InvalidCredentials, InvalidId, NotFound
from pocketbank.services.auth_common import (
    MINUTE,
    AuthDeps,
    LoginAttempt,
    Outcome,
    code_hash,
    new_code,
    same_digest,
    verify_with_lockout,
)
from pocketbank.services.auth_ports import ChallengeRecord, CodeRecord, CustomerRecord, DeviceRecord
from pocketbank.services.ports import StepUpPass, Tx
from pocketbank.services.second_factors import ResealReport, SecondFactors, StepUpChallenge, TotpEnrolment
from pocketbank.services.sessions import SessionManager, SessionTokens

DEVICE_CODE_TTL: Final = 10 * MINUTE
MAX_CODE_ATTEMPTS: Final = 5
NEW_DEVICE: Final = "new_device"


@dataclass(frozen=True, slots=True)
class DeviceChallenge:
    challenge_id: str  # chl_… to send back with the SMS code
    device_id: str  # dev_… the app should keep
    expires_at: int


@dataclass(frozen=True, slots=True)
class LoginResult:
    """Exactly one is set: a session (trusted device) or a device challenge (new device)."""

    session: SessionTokens | None
    challenge: DeviceChallenge | None


@dataclass(frozen=True, slots=True)
class DeviceView:
    id: str
    label: str
    created_at: int
    trusted_at: int | None
    revoked_at: int | None
    last_seen_at: int | None
    current: bool


def _customer_principal(customer: CustomerRecord, channel: Channel) -> Principal:
    return Principal(PrincipalKind.CUSTOMER, customer.id, customer.public_id, 0, channel, AuthMethod.PASSWORD)


class AuthService:
    """Implements ``services.ports.Authenticator`` and ``services.ports.StepUpVerifier``."""

    def __init__(self, deps: AuthDeps) -> None:
        self.d = deps
        self.sessions = SessionManager(deps)
        self.factors = SecondFactors(deps, self.sessions)
        # Unknown numbers are checked against this, so they cost the same time as a real account.
        self._dummy_hash = deps.hasher.hash(secrets.token_urlsafe(16))

    # --- login ------------------------------------------------------------------------------------------------

    def login(
        self, phone: str, password: str, device_id: str | None, device_label: str, channel: Channel, client_key: str
    ) -> LoginResult:
        now = self.d.now()
        e164 = normalise_phone(phone)
        self.d.rate(f"login:client:{client_key}", self.d.limits.login_per_client, now)
        self.d.rate(f"login:phone:{e164}", self.d.limits.login_per_phone, now)
        known_device = parse_id(IdKind.DEVICE, device_id, param="device_id") if device_id else 0
        secret = normalise_password(password)
        out = Outcome(self.d)
        code: str | None = None
        result = LoginResult(None, None)
        with self.d.uow.begin() as tx:
            customer = self.d.customers.find_by_phone(tx, e164, for_update=True)
            if customer is None or customer.status is CustomerStatus.CLOSED:
                self.d.hasher.verify(self._dummy_hash, secret)
                raise InvalidCredentials("the mobile number or password is not right")
            actor = _customer_principal(customer, channel)
            attempt = LoginAttempt(
                actor, self.d.customers, customer.failed_logins, customer.locked_until, customer.password_hash,
                InvalidCredentials("the mobile number or password is not right"),
            )  # fmt: skip
            if verify_with_lockout(self.d, tx, out, attempt, secret, now):
                if self.d.hasher.needs_rehash(customer.password_hash):
                    self.d.customers.set_password_hash(tx, customer.id, self.d.hasher.hash(secret))
                device = self.d.store.get_device(tx, known_device) if known_device else None
                if device is not None and device.customer_id != customer.id:
                    device = None
                if device is not None and device.trusted_at is not None and device.revoked_at is None:
                    self.d.store.touch_device(tx, device.id, now)
                    tokens, _ = self.sessions.issue(
                        tx, out, kind=PrincipalKind.CUSTOMER, principal_id=customer.id, public_id=customer.public_id,
                        channel=channel, method=AuthMethod.PASSWORD, now=now, device_id=device.id,
                    )  # fmt: skip
                    result = LoginResult(tokens, None)
                else:
                    self.d.rate(f"sms:phone:{customer.phone}", self.d.limits.sms_per_phone, now)
                    if device is None or device.revoked_at is not None:
                        device = DeviceRecord(
                            self.d.ids.new(), customer.id, _label(device_label), now, None, None, None
                        )
                        self.d.store.insert_device(tx, device)
                    code = new_code()
                    record = self._new_code(tx, NEW_DEVICE, str(device.id), code, now, DEVICE_CODE_TTL)
                    challenge = DeviceChallenge(
                        format_id(IdKind.CHALLENGE, record.id), format_id(IdKind.DEVICE, device.id), record.expires_at
                    )
                    self.d.audit.append(tx, audit_by(actor, "login.device_challenge", challenge.device_id, now))
                    result = LoginResult(None, challenge)
        out.finish()
        if code is not None and customer is not None:
            text = f"PocketBank: {code} is your code to sign in on a new device. Valid 10 minutes. Never share it."
            self.d.sms.send(customer.phone, text, code=code)
        return result

    def _new_code(self, tx: Tx, purpose: str, target: str, code: str, now: int, ttl: int) -> CodeRecord:
        code_id = self.d.ids.new()
        record = CodeRecord(code_id, purpose, target, code_hash(code_id, code), now, now + ttl, 0, None)
        self.d.store.insert_code(tx, record)
        return record

    def confirm_device(self, challenge_id: str, code: str, channel: Channel, client_key: str) -> SessionTokens:
        now = self.d.now()
        self.d.rate(f"codes:client:{client_key}", self.d.limits.code_checks_per_client, now)
        refused = InvalidCode("the code is wrong or has expired; log in again for a new one", param="code")
        try:
            code_id = parse_id(IdKind.CHALLENGE, challenge_id, param="challenge_id")
        except InvalidId:
            raise refused from None
        out = Outcome(self.d)
        with self.d.uow.begin() as tx:
            record = self.d.store.get_code(tx, code_id, for_update=True)
            if record is None or record.purpose != NEW_DEVICE:
                raise refused
            device = self.d.store.get_device(tx, int(record.target))
            customer = self.d.customers.get(tx, device.customer_id) if device else None
            if device is None or customer is None or device.revoked_at is not None:
                raise refused
            if record.used_at is not None or now >= record.expires_at or record.attempts >= MAX_CODE_ATTEMPTS:
                raise refused
            actor = _customer_principal(customer, channel)
            if not same_digest(record.code_hash, code_hash(record.id, code)):
                self.d.store.count_code_attempt(tx, record.id)
                self.d.audit.append(tx, audit_by(actor, "device.code_failed", format_id(IdKind.DEVICE, device.id), now))
                out.refuse(refused)
            else:
                self.d.store.use_code(tx, record.id, now)
                self.d.store.trust_device(tx, device.id, now)
                public_device = format_id(IdKind.DEVICE, device.id)
                self.d.audit.append(tx, audit_by(actor, "device.trusted", public_device, now, label=device.label))
                out.emit(tx, "device.trusted", channel.value, now, customer=customer.public_id, device=public_device)
                tokens, _ = self.sessions.issue(
                    tx, out, kind=PrincipalKind.CUSTOMER, principal_id=customer.id, public_id=customer.public_id,
                    channel=channel, method=AuthMethod.SMS, now=now, device_id=device.id,
                )  # fmt: skip
        out.finish()
        return tokens

    # --- sessions (Authenticator) -----------------------------------------------------------------------------

    def authenticate(self, access_token: str, now: int) -> Principal:
        return self.sessions.authenticate(access_token, now)

    def refresh(self, refresh_token: str) -> SessionTokens:
        return self.sessions.refresh(refresh_token, self.d.now())

    def logout(self, principal: Principal) -> None:
        with self.d.uow.begin() as tx:
            self.sessions.end(tx, principal, self.d.now())

    def logout_everywhere(self, principal: Principal) -> int:
        with self.d.uow.begin() as tx:
            return self.sessions.end_all(tx, principal, self.d.now(), keep_current=False)

    def change_password(self, principal: Principal, old_password: str, new_password: str) -> int:
        """Change the password and end every other session; returns how many were ended."""
        customer_only(principal)
        now = self.d.now()
        self.d.rate(f"password:change:{principal.id}", self.d.limits.password_changes_per_customer, now)
        with self.d.uow.read() as tx:
            customer = self.d.customers.get(tx, principal.id)
        if customer is None:
            raise NotFound("no such customer")
        if not self.d.hasher.verify(customer.password_hash, normalise_password(old_password)):
            with self.d.uow.begin() as tx:
                self.d.audit.append(tx, audit_by(principal, "password.change_failed", principal.public_id, now))
            raise InvalidCredentials("the current password is not right", param="old_password")
        check_password(new_password, common=self.d.common_passwords, context=(customer.phone, customer.name))
        new_hash = self.d.hasher.hash(normalise_password(new_password))
        out = Outcome(self.d)
        with self.d.uow.begin() as tx:
            self.d.customers.set_password_hash(tx, customer.id, new_hash)
            self.d.audit.append(tx, audit_by(principal, "password.changed", principal.public_id, now))
            ended = self.sessions.end_all(tx, principal, now, keep_current=True)
            out.emit(tx, "customer.password_changed", principal.channel.value, now, customer=principal.public_id)
        out.finish()
        return ended

    # --- devices ----------------------------------------------------------------------------------------------

    def list_devices(self, principal: Principal) -> list[DeviceView]:
        customer_only(principal)
        with self.d.uow.read() as tx:
            devices = self.d.store.list_devices(tx, principal.id)
        return [
            DeviceView(
                format_id(IdKind.DEVICE, d.id),
                d.label,
                d.created_at,
                d.trusted_at,
                d.revoked_at,
                d.last_seen_at,
                d.id == principal.device_id,
            )
            for d in devices
        ]

    def revoke_device(self, principal: Principal, device_id: str) -> None:
        """Stop trusting one of the caller's devices and end its sessions; someone else's device is ``not_found``."""
        customer_only(principal)
        now = self.d.now()
        did = parse_id(IdKind.DEVICE, device_id, param="device_id")
        out = Outcome(self.d)
        with self.d.uow.begin() as tx:
            device = self.d.store.get_device(tx, did)
            if device is None or device.customer_id != principal.id or device.revoked_at is not None:
                raise NotFound("no such device", param="device_id")
            self.d.store.revoke_device(tx, did, now)
            ended = self.d.store.revoke_sessions(tx, principal.id, now, device_id=did)
            self.d.audit.append(tx, audit_by(principal, "device.revoked", device_id, now, sessions_ended=ended))
            out.emit(tx, "device.revoked", principal.channel.value, now, customer=principal.public_id, device=device_id)
        out.finish()

    def device_trusted_at(self, principal: Principal) -> int:
        """When the caller's current device became trusted (ns); 0 if unknown. Payees added soon after are capped."""
        if not principal.device_id:
            return 0
        with self.d.uow.read() as tx:
            device = self.d.store.get_device(tx, principal.device_id)
        if device is None or device.customer_id != principal.id or device.trusted_at is None:
            return 0
        return device.trusted_at

    # --- second factors (StepUpVerifier) ----------------------------------------------------------------------

    def enroll_totp(self, principal: Principal) -> TotpEnrolment:
        return self.factors.enroll_totp(principal)

    def confirm_totp(self, principal: Principal, code: str) -> None:
        self.factors.confirm_totp(principal, code)

    def set_pin(self, principal: Principal, pin: str, challenge_id: str, code: str) -> None:
        self.factors.set_pin(principal, pin, challenge_id, code)

    def reseal_totp_secrets(self, *, adopt_plaintext: bool = False) -> ResealReport:
        return self.factors.reseal_totp_secrets(adopt_plaintext=adopt_plaintext)

    def create_challenge(
        self, principal: Principal, method: AuthMethod, binding: str, now: int, *, summary: str | None = None
    ) -> StepUpChallenge:
        return self.factors.create_challenge(principal, method, binding, now, summary=summary)

    def verify(self, principal: Principal, challenge_id: str, code: str, binding: str, now: int) -> AuthMethod:
        return self.factors.verify(principal, challenge_id, code, binding, now)

    def check(
        self, principal: Principal, challenge_id: str, code: str, binding: str, now: int, found: ChallengeRecord | None
    ) -> StepUpPass | AuthMethod:
        return self.factors.check(principal, challenge_id, code, binding, now, found)

    def spend_many(self, tx: Tx, passes: Sequence[StepUpPass], at: int) -> set[int]:
        return self.factors.spend_many(tx, passes, at)


def customer_only(principal: Principal) -> None:
    if principal.kind is not PrincipalKind.CUSTOMER:
        raise Forbidden("this is for customers")


def _label(raw: str) -> str:
    label = "".join(ch for ch in raw if ch.isprintable()).strip()[:64]
    return label or "unnamed device"
