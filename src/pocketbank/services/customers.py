"""Sign-up, the customer's own profile, and account-class upgrades by staff (``CustomerService``).

Sign-up is two calls. ``start_registration`` texts a 6-digit code to the number; it answers the same whether or
not the number already banks here, so it cannot be used to find customers. ``register`` checks everything that
needs no secret first (number, name, identity document, password policy) so a typo does not burn the code, then
checks the code, and in one unit of work creates the customer as class II (remote sign-up, PBoC rules: see
``domain.customers``), trusts the device it signed up on, opens the default CNY account through the
``AccountOpener`` port, audits, emits ``customer.registered`` and starts a session: the app is logged in at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pocketbank.domain.audit import audit_by
from pocketbank.domain.channels import AuthMethod, Channel
from pocketbank.domain.customers import (
    REMOTE_SIGNUP_CLASS,
    AccountClass,
    CustomerStatus,
    IdDocument,
    IdKind,
    normalise_name,
    normalise_phone,
)
from pocketbank.domain.ids import IdKind as PublicIdKind
from pocketbank.domain.ids import format_id
from pocketbank.domain.passwords import check_password, normalise_password
from pocketbank.domain.principals import Principal, PrincipalKind
from pocketbank.errors import AlreadyRegistered, Forbidden, InvalidCode, NotFound
from pocketbank.services.auth_common import MINUTE, AuthDeps, Outcome, code_hash, new_code, same_digest
from pocketbank.services.auth_ports import AccountOpener, CodeRecord, CustomerRecord, DeviceRecord
from pocketbank.services.ports import Tx
from pocketbank.services.sessions import SessionManager, SessionTokens

REGISTER: Final = "register"
REGISTRATION_CODE_TTL: Final = 10 * MINUTE
MAX_CODE_ATTEMPTS: Final = 5


@dataclass(frozen=True, slots=True)
class CustomerView:
    """What the customer (or a teller) may see: no hashes, no TOTP seed, the identity number masked."""

    id: str
    phone: str
    name: str
    id_kind: IdKind
    id_number_masked: str
    account_class: AccountClass
    status: CustomerStatus
    created_at: int
    totp_enabled: bool
    pin_set: bool


def customer_view(c: CustomerRecord) -> CustomerView:
    return CustomerView(
        c.public_id, c.phone, c.name, c.id_kind, IdDocument(c.id_kind, c.id_number).masked(), c.account_class,
        c.status, c.created_at, c.totp_enabled_at is not None, c.pin_hash is not None,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class RegistrationStarted:
    phone: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class Registration:
    customer: CustomerView
    session: SessionTokens
    account_id: str | None  # the default CNY account, once the accounts part opens it


class CustomerService:
    def __init__(self, deps: AuthDeps, accounts: AccountOpener) -> None:
        self.d = deps
        self.accounts = accounts
        self.sessions = SessionManager(deps)

    def start_registration(self, phone: str, channel: Channel, client_key: str) -> RegistrationStarted:
        now = self.d.now()
        e164 = normalise_phone(phone)
        self.d.rate(f"sms:client:{client_key}", self.d.limits.sms_per_client, now)
        self.d.rate(f"sms:phone:{e164}", self.d.limits.sms_per_phone, now)
        code = new_code()
        code_id = self.d.ids.new()
        record = CodeRecord(
            code_id, REGISTER, e164, code_hash(code_id, code), now, now + REGISTRATION_CODE_TTL, 0, None
        )
        with self.d.uow.begin() as tx:
            self.d.store.insert_code(tx, record)
        self.d.sms.send(e164, f"PocketBank: {code} is your sign-up code. Valid 10 minutes. Never share it.", code=code)
        return RegistrationStarted(e164, record.expires_at)

    def register(
        self,
        *,
        phone: str,
        code: str,
        password: str,
        name: str,
        id_kind: IdKind,
        id_number: str,
        device_label: str,
        channel: Channel,
        client_key: str,
    ) -> Registration:
        now = self.d.now()
        e164 = normalise_phone(phone)
        person = normalise_name(name)
        document = IdDocument(id_kind, id_number)
        check_password(password, common=self.d.common_passwords, context=(e164, person))
        password_hash = self.d.hasher.hash(normalise_password(password))
        self.d.rate(f"codes:client:{client_key}", self.d.limits.code_checks_per_client, now)
        refused = InvalidCode("the code is wrong or has expired; ask for a new one", param="code")
        out = Outcome(self.d)
        # The ledger side of the default account is made before the transaction, which on SQLite holds the one
        # write lock the ledger would need; its id is derived from the customer id, so it is made at most once.
        cid = self.d.ids.new()
        if self._code_looks_right(e164, code, now):  # no ledger account for a sign-up that will be refused
            self.accounts.prepare_default_account(cid)
        with self.d.uow.begin() as tx:
            record = self.d.store.latest_code(tx, REGISTER, e164, for_update=True)
            if record is None or record.used_at is not None or now >= record.expires_at:
                raise refused
            if record.attempts >= MAX_CODE_ATTEMPTS:
                raise refused
            if not same_digest(record.code_hash, code_hash(record.id, code)):
                self.d.store.count_code_attempt(tx, record.id)
                out.refuse(refused)
            else:
                if self.d.customers.find_by_phone(tx, e164) is not None:
                    raise AlreadyRegistered("this mobile number already has an account; log in", param="phone")
                if self.d.customers.find_by_document(tx, document.kind, document.number) is not None:
                    raise AlreadyRegistered("this identity document already has an account", param="id_number")
                self.d.store.use_code(tx, record.id, now)
                result = self._create(tx, out, cid, e164, person, document, password_hash, device_label, channel, now)
        out.finish()
        return result

    def _code_looks_right(self, phone: str, code: str, now: int) -> bool:
        """A read-only first look at the code (the transaction below checks it again, under lock)."""
        with self.d.uow.read() as tx:
            record = self.d.store.latest_code(tx, REGISTER, phone)
        return (
            record is not None
            and record.used_at is None
            and now < record.expires_at
            and same_digest(record.code_hash, code_hash(record.id, code))
        )

    def _create(
        self,
        tx: Tx,
        out: Outcome,
        cid: int,
        phone: str,
        name: str,
        document: IdDocument,
        password_hash: str,
        device_label: str,
        channel: Channel,
        now: int,
    ) -> Registration:
        customer = CustomerRecord(
            id=cid, public_id=format_id(PublicIdKind.CUSTOMER, cid), phone=phone, name=name, id_kind=document.kind,
            id_number=document.number, account_class=REMOTE_SIGNUP_CLASS, status=CustomerStatus.ACTIVE,
            password_hash=password_hash, pin_hash=None, totp_secret=None, totp_enabled_at=None, totp_last_step=0,
            failed_logins=0, locked_until=0, created_at=now, phone_verified_at=now,
        )  # fmt: skip
        self.d.customers.insert(tx, customer)
        label = "".join(ch for ch in device_label if ch.isprintable()).strip()[:64] or "unnamed device"
        device = DeviceRecord(self.d.ids.new(), cid, label, now, now, None, now)
        self.d.store.insert_device(tx, device)
        account_id = self.accounts.open_default_account(tx, cid, customer.account_class) or None
        actor = Principal(PrincipalKind.CUSTOMER, cid, customer.public_id, 0, channel, AuthMethod.SMS, device.id)
        self.d.audit.append(
            tx,
            audit_by(
                actor, "customer.registered", customer.public_id, now, account_class=int(customer.account_class),
                id_kind=document.kind.value, device=format_id(PublicIdKind.DEVICE, device.id), account=account_id,
            ),
        )  # fmt: skip
        out.emit(
            tx, "customer.registered", channel.value, now, customer=customer.public_id,
            account_class=int(customer.account_class), account=account_id,
        )  # fmt: skip
        tokens, _ = self.sessions.issue(
            tx, out, kind=PrincipalKind.CUSTOMER, principal_id=cid, public_id=customer.public_id, channel=channel,
            method=AuthMethod.SMS, now=now, device_id=device.id,
        )  # fmt: skip
        return Registration(customer_view(customer), tokens, account_id)

    def get_customer(self, principal: Principal) -> CustomerView:
        if principal.kind is not PrincipalKind.CUSTOMER:
            raise Forbidden("this is for customers")
        with self.d.uow.read() as tx:
            customer = self.d.customers.get(tx, principal.id)
        if customer is None:
            raise NotFound("no such customer")
        return customer_view(customer)

    def upgrade_class(
        self, staff: Principal, customer_public_id: str, new_class: AccountClass, reason: str
    ) -> CustomerView:
        """Change a customer's account class (after an in-person identity check, for class I). Staff only."""
        if staff.kind is not PrincipalKind.STAFF:
            raise Forbidden("only bank staff can change an account class")
        now = self.d.now()
        out = Outcome(self.d)
        with self.d.uow.begin() as tx:
            customer = self.d.customers.get_by_public_id(tx, customer_public_id)
            if customer is None:
                raise NotFound("no such customer", param="customer_id")
            self.d.customers.set_account_class(tx, customer.id, new_class)
            self.d.audit.append(
                tx,
                audit_by(
                    staff, "customer.class_changed", customer.public_id, now, old=int(customer.account_class),
                    new=int(new_class), reason=reason,
                ),
            )  # fmt: skip
            out.emit(
                tx, "customer.class_changed", staff.channel.value, now, customer=customer.public_id,
                old=int(customer.account_class), new=int(new_class), staff=staff.public_id,
            )  # fmt: skip
            updated = self.d.customers.get(tx, customer.id)
        out.finish()
        assert updated is not None
        return customer_view(updated)
