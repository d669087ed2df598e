"""Second factors: TOTP, the transaction PIN, and step-up challenges bound to one payment (PSD2 dynamic linking).

A step-up **challenge** is issued for a binding digest (``domain.stepup.binding_digest`` of customer, amount,
currency and payee) and one method. Its proof is accepted once, within 5 minutes, in at most 3 attempts, and only
for exactly the same binding; a proof offered for a different binding also burns the challenge, since a changed
payment must be approved afresh (PSD2 RTS Art. 5). Every refusal is the same ``step_up_failed``.

**TOTP** (RFC 6238, 30-second steps, 6 digits) accepts the current step and one either side for clock drift. The
last step used is stored, and only a later step is accepted, so a code seen over a shoulder cannot be replayed.
The seed is stored sealed by the ``SecretBox`` port for this customer's row (``totp_context``) and opened only to
check a code; one sealed under an older key is re-sealed under the current key when next used. A seed that does
not open (unknown or wrong key, copied from another row, a legacy plaintext row) verifies nothing: the proof is
refused as a wrong code would be, and ``totp.unreadable`` is audited for the operators.

**PIN**: 6 digits, argon2id-hashed like a password. Setting it needs an SMS or TOTP step-up bound to
``pin_binding(customer)``, so a stolen session alone cannot set one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Final

import pyotp

from pocketbank.domain.audit import audit_by
from pocketbank.domain.channels import AuthMethod
from pocketbank.domain.clock import NS_PER_SECOND
from pocketbank.domain.ids import IdKind, format_id, parse_id
from pocketbank.domain.principals import Principal, PrincipalKind
from pocketbank.errors import (
    Conflict,
    Forbidden,
    InvalidCode,
    InvalidId,
    MethodNotEnrolled,
    NotFound,
    StepUpFailed,
    WeakPassword,
)
from pocketbank.services.auth_common import MINUTE, AuthDeps, Outcome, code_hash, new_code, same_digest
from pocketbank.services.auth_ports import (
    LEGACY_PLAINTEXT,
    ChallengeRecord,
    CustomerRecord,
    Sealed,
    SecretUnreadable,
)
from pocketbank.services.ports import StepUpPass, Tx
from pocketbank.services.sessions import SessionManager

CHALLENGE_TTL: Final = 5 * MINUTE
MAX_CHALLENGE_ATTEMPTS: Final = 3
TOTP_STEP_SECONDS: Final = 30
TOTP_ISSUER: Final = "PocketBank"
PIN_LENGTH: Final = 6
_HEX = frozenset("0123456789abcdef")


def pin_binding(customer_public_id: str) -> str:
    """The binding a step-up must prove to set or change the transaction PIN."""
    return hashlib.sha256(b"pocketbank.pin.v1\x00" + customer_public_id.encode()).hexdigest()


def totp_context(customer_id: int) -> str:
    """What a TOTP seed is sealed for: this customer's row, so a seed copied onto another row does not open."""
    return f"customer.totp:{customer_id:032x}"


def _looks_like_seed(value: str) -> bool:
    try:
        return len(base64.b32decode(value.upper() + "=" * (-len(value) % 8))) >= 10
    except (ValueError, binascii.Error):
        return False


def totp_step(secret: str, code: str, now: int, last_step: int) -> int | None:
    """The time step ``code`` belongs to (now, or one step either side) if later than ``last_step``; else None."""
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, interval=TOTP_STEP_SECONDS)
    current = now // NS_PER_SECOND // TOTP_STEP_SECONDS
    for step in (current, current - 1, current + 1):
        if step > last_step and same_digest(totp.generate_otp(step), code):
            return step
    return None


def _sms_code_ok(ch: ChallengeRecord, code: str) -> bool:
    return ch.code_hash is not None and same_digest(ch.code_hash, code_hash(ch.id, code))


def _refused() -> StepUpFailed:
    return StepUpFailed("the step-up code is wrong, expired or for a different request", param="code")


def _open(ch: ChallengeRecord, now: int) -> bool:
    return ch.used_at is None and now < ch.expires_at and ch.attempts < MAX_CHALLENGE_ATTEMPTS


def _check_pin_format(pin: str) -> None:
    if len(pin) != PIN_LENGTH or not pin.isascii() or not pin.isdigit():
        raise WeakPassword(f"a PIN is exactly {PIN_LENGTH} digits", reason="pin_format", param="pin")
    steps = {int(b) - int(a) for a, b in pairwise(pin)}
    if steps in ({0}, {1}, {-1}):
        raise WeakPassword("avoid PINs like 111111 or 123456", reason="repetitive", param="pin")


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    secret: str  # base32, shown once for manual entry
    uri: str  # otpauth:// for a QR code


@dataclass(frozen=True, slots=True)
class ResealReport:
    resealed: int  # now under the current key
    unreadable: int  # left as they were: they open under no configured key (or are plaintext not adopted)


@dataclass(frozen=True, slots=True)
class StepUpChallenge:
    id: str  # chl_…
    method: AuthMethod
    expires_at: int


class SecondFactors:
    def __init__(self, deps: AuthDeps, sessions: SessionManager) -> None:
        self.d = deps
        self.sessions = sessions

    def _customer(self, tx: Tx, principal: Principal) -> CustomerRecord:
        if principal.kind is not PrincipalKind.CUSTOMER:
            raise Forbidden("only customers have second factors")
        customer = self.d.customers.get(tx, principal.id, for_update=True)
        if customer is None:
            raise NotFound("no such customer")
        return customer

    # --- TOTP -------------------------------------------------------------------------------------------------

    def enroll_totp(self, principal: Principal) -> TotpEnrolment:
        now = self.d.now()
        with self.d.uow.begin() as tx:
            customer = self._customer(tx, principal)
            if customer.totp_enabled_at is not None:
                raise Conflict("an authenticator app is already active")
            secret = pyotp.random_base32()
            self.d.customers.set_totp(tx, customer.id, self.d.box.seal(secret, totp_context(customer.id)), None)
            self.d.audit.append(tx, audit_by(principal, "totp.enrolled", principal.public_id, now))
        uri = pyotp.TOTP(secret, interval=TOTP_STEP_SECONDS).provisioning_uri(
            name=customer.phone, issuer_name=TOTP_ISSUER
        )
        return TotpEnrolment(secret, uri)

    def confirm_totp(self, principal: Principal, code: str) -> None:
        """Activate the enrolled authenticator with its first code; ends every other session (an MFA change)."""
        now = self.d.now()
        out = Outcome(self.d)
        with self.d.uow.begin() as tx:
            customer = self._customer(tx, principal)
            if customer.totp_secret is None or customer.totp_enabled_at is not None:
                raise MethodNotEnrolled("start the authenticator enrolment first", param="code")
            secret = self._open_totp(tx, principal, customer, customer.totp_secret, now)
            step = totp_step(secret, code, now, customer.totp_last_step) if secret is not None else None
            if secret is None:
                out.refuse(MethodNotEnrolled("start the authenticator enrolment again", param="code"))
            elif step is None:
                self.d.audit.append(tx, audit_by(principal, "totp.confirm_failed", principal.public_id, now))
                out.refuse(InvalidCode("that code is not right; check the time on your phone", param="code"))
            else:
                self.d.customers.set_totp(
                    tx, customer.id, self._current_seal(customer, customer.totp_secret, secret), now
                )
                self.d.customers.set_totp_last_step(tx, customer.id, step)
                self.d.audit.append(tx, audit_by(principal, "totp.activated", principal.public_id, now))
                self.sessions.end_all(tx, principal, now, keep_current=True)
                out.emit(tx, "customer.mfa_changed", principal.channel.value, now, customer=principal.public_id)
        out.finish()

    # --- PIN --------------------------------------------------------------------------------------------------

    def set_pin(self, principal: Principal, pin: str, challenge_id: str, code: str) -> None:
        _check_pin_format(pin)
        method = self.verify(principal, challenge_id, code, pin_binding(principal.public_id), self.d.now())
        if method is AuthMethod.PIN:
            raise StepUpFailed("prove a PIN change with an SMS or authenticator code")
        pin_hash = self.d.hasher.hash(pin)
        now = self.d.now()
        with self.d.uow.begin() as tx:
            customer = self._customer(tx, principal)
            self.d.customers.set_pin_hash(tx, customer.id, pin_hash)
            self.d.audit.append(tx, audit_by(principal, "pin.set", principal.public_id, now, proven_by=method.value))

    # --- step-up ----------------------------------------------------------------------------------------------

    def create_challenge(
        self, principal: Principal, method: AuthMethod, binding: str, now: int, *, summary: str | None = None
    ) -> StepUpChallenge:
        if method not in (AuthMethod.SMS, AuthMethod.TOTP, AuthMethod.PIN):
            raise StepUpFailed("step-up works with sms, totp or pin", param="method")
        if len(binding) != 64 or not set(binding) <= _HEX:
            raise ValueError("binding must be a SHA-256 hex digest")
        self.d.rate(f"stepup:create:{principal.id}", self.d.limits.challenges_per_customer, now)
        code: str | None = None
        with self.d.uow.begin() as tx:
            customer = self._customer(tx, principal)
            if method is AuthMethod.TOTP and customer.totp_enabled_at is None:
                raise MethodNotEnrolled("no authenticator app is active", param="method")
            if method is AuthMethod.PIN and customer.pin_hash is None:
                raise MethodNotEnrolled("no transaction PIN is set", param="method")
            challenge_id = self.d.ids.new()
            hashed = None
            if method is AuthMethod.SMS:
                self.d.rate(f"sms:phone:{customer.phone}", self.d.limits.sms_per_phone, now)
                code = new_code()
                hashed = code_hash(challenge_id, code)
            record = ChallengeRecord(
                challenge_id, customer.id, binding, method, hashed, now, now + CHALLENGE_TTL, 0, None
            )
            self.d.store.insert_challenge(tx, record)
            public = format_id(IdKind.CHALLENGE, challenge_id)
            self.d.audit.append(tx, audit_by(principal, "stepup.challenge_created", public, now, method=method.value))
        if code is not None:
            what = "".join(ch for ch in (summary or "this request") if ch.isprintable())[:80]
            self.d.sms.send(
                customer.phone, f"PocketBank: {code} approves {what}. Valid 5 minutes. Never share it.", code=code
            )
        return StepUpChallenge(public, method, record.expires_at)

    def verify(self, principal: Principal, challenge_id: str, code: str, binding: str, now: int) -> AuthMethod:
        return self._verify(principal, self._challenge_id(principal, challenge_id, now), code, binding, now)

    def check(
        self, principal: Principal, challenge_id: str, code: str, binding: str, now: int, found: ChallengeRecord | None
    ) -> StepUpPass | AuthMethod:
        """``StepUpVerifier.check``: an SMS proof that passes every test of ``_verify`` on ``found`` (read by the
        caller, not locked: the spend is a compare-and-set) is neither locked nor spent here; anything else goes
        through ``_verify``, which reads the challenge again under its lock and decides (and writes) as it always
        does."""
        cid = self._challenge_id(principal, challenge_id, now)
        ch = found if found is not None and found.id == cid else None
        if (
            ch is not None
            and ch.method is AuthMethod.SMS
            and ch.customer_id == principal.id
            and _open(ch, now)
            and same_digest(ch.binding, binding)
            and _sms_code_ok(ch, code)
        ):
            subject = format_id(IdKind.CHALLENGE, cid)
            return StepUpPass(ch.id, ch.method, audit_by(principal, "stepup.verified", subject, now, method="sms"))
        return self._verify(principal, cid, code, binding, now)

    def spend_many(self, tx: Tx, passes: Sequence[StepUpPass], at: int) -> set[int]:
        ids = [p.challenge_id for p in passes]
        return self.d.store.spend_challenges(tx, ids, at, MAX_CHALLENGE_ATTEMPTS)

    def _challenge_id(self, principal: Principal, challenge_id: str, now: int) -> int:
        """The challenge's id, after the customer's rate limit; every refusal is the same ``step_up_failed``."""
        try:
            cid = parse_id(IdKind.CHALLENGE, challenge_id, param="challenge_id")
        except InvalidId:
            raise _refused() from None
        if principal.kind is not PrincipalKind.CUSTOMER:
            raise _refused()
        self.d.rate(f"stepup:verify:{principal.id}", self.d.limits.step_up_checks_per_customer, now)
        return cid

    def _verify(self, principal: Principal, cid: int, code: str, binding: str, now: int) -> AuthMethod:
        refused = _refused()
        out = Outcome(self.d)
        proven = AuthMethod.PASSWORD
        with self.d.uow.begin() as tx:
            ch = self.d.store.get_challenge(tx, cid, for_update=True)
            # Only a TOTP or PIN proof needs the customer's row (the seed and replay guard, the PIN hash), locked for
            # the replay guard; an SMS proof is the challenge's own, so the money path skips one locked read.
            needs_customer = ch is not None and ch.method is not AuthMethod.SMS
            customer = self.d.customers.get(tx, principal.id, for_update=True) if needs_customer else None
            subject = format_id(IdKind.CHALLENGE, cid)
            if (
                ch is None
                or (needs_customer and customer is None)
                or ch.customer_id != principal.id
                or not _open(ch, now)
            ):
                out.refuse(refused)
            elif not same_digest(ch.binding, binding):
                self.d.store.use_challenge(tx, ch.id, now)  # the payment changed: this approval is void
                self.d.audit.append(tx, audit_by(principal, "stepup.binding_mismatch", subject, now))
                out.refuse(refused)
            elif self._proof_ok(tx, principal, ch, customer, code, now):
                self.d.store.use_challenge(tx, ch.id, now)
                self.d.audit.append(tx, audit_by(principal, "stepup.verified", subject, now, method=ch.method.value))
                proven = ch.method
            else:
                self.d.store.count_challenge_attempt(tx, ch.id)
                self.d.audit.append(tx, audit_by(principal, "stepup.failed", subject, now, method=ch.method.value))
                out.refuse(refused)
        out.finish()
        return proven

    def _proof_ok(
        self, tx: Tx, principal: Principal, ch: ChallengeRecord, customer: CustomerRecord | None, code: str, now: int
    ) -> bool:
        if ch.method is AuthMethod.SMS:
            return _sms_code_ok(ch, code)
        if customer is None:
            return False
        if ch.method is AuthMethod.TOTP:
            sealed = customer.totp_secret
            if sealed is None or customer.totp_enabled_at is None:
                return False
            secret = self._open_totp(tx, principal, customer, sealed, now)
            step = totp_step(secret, code, now, customer.totp_last_step) if secret is not None else None
            if secret is None or step is None:
                return False
            self.d.customers.set_totp_last_step(tx, customer.id, step)
            fresh = self._current_seal(customer, sealed, secret)
            if fresh is not sealed:
                self.d.customers.reseal_totp(tx, customer.id, sealed, fresh)
            return True
        if ch.method is AuthMethod.PIN:
            return customer.pin_hash is not None and self.d.hasher.verify(customer.pin_hash, code)
        return False

    # --- sealed TOTP seeds ------------------------------------------------------------------------------------

    def _open_totp(
        self, tx: Tx, principal: Principal, customer: CustomerRecord, sealed: Sealed, now: int
    ) -> str | None:
        try:
            return self.d.box.open(sealed, totp_context(customer.id))
        except SecretUnreadable:
            # Refused like a wrong code (the customer learns nothing); the audit trail tells operators which key.
            self.d.audit.append(
                tx, audit_by(principal, "totp.unreadable", principal.public_id, now, key_id=sealed.key_id)
            )
            return None

    def _current_seal(self, customer: CustomerRecord, sealed: Sealed, secret: str) -> Sealed:
        """``sealed`` if the current key made it, else the secret sealed afresh under the current key (rotation)."""
        if sealed.key_id == self.d.box.current_key_id:
            return sealed
        return self.d.box.seal(secret, totp_context(customer.id))

    def reseal_totp_secrets(self, *, adopt_plaintext: bool = False, batch: int = 200) -> ResealReport:
        """Re-seal every TOTP seed not under the current key, so an old key can be retired (an operator's command).

        Legacy rows stored in the clear are adopted (sealed) only with ``adopt_plaintext``: that is a deliberate,
        one-off decision, because trusting a clear seed read from the database is exactly what sealing prevents.
        A row changed meanwhile (a new enrolment) is left alone: the swap only replaces the value it read.
        """
        current = self.d.box.current_key_id
        resealed = unreadable = 0
        after = 0
        while True:
            with self.d.uow.begin() as tx:
                rows = self.d.customers.totp_sealed_by_other_keys(tx, current, after, batch)
                for customer_id, sealed in rows:
                    secret = self._open_for_reseal(customer_id, sealed, adopt_plaintext)
                    if secret is None:
                        unreadable += 1
                    elif self.d.customers.reseal_totp(
                        tx, customer_id, sealed, self.d.box.seal(secret, totp_context(customer_id))
                    ):
                        resealed += 1
            if len(rows) < batch:
                return ResealReport(resealed, unreadable)
            after = rows[-1][0]

    def _open_for_reseal(self, customer_id: int, sealed: Sealed, adopt_plaintext: bool) -> str | None:
        if sealed.key_id == LEGACY_PLAINTEXT:
            return sealed.blob if adopt_plaintext and _looks_like_seed(sealed.blob) else None
        try:
            return self.d.box.open(sealed, totp_context(customer_id))
        except SecretUnreadable:
            return None
