"""Bank staff: accounts for tellers and supervisors, their login, and looking customers up (``StaffService``).

Staff sessions are ``counter``-channel sessions of kind ``staff`` carrying the role. Looking a customer up is
itself audited in the staff member's stream: who looked at whose data, and when (ASVS 16.3).

A staff login is guarded exactly like a customer's (``auth_common.verify_with_lockout``): locked after 5
consecutive failures with a doubling back-off, ``account_locked`` (423) while locked, rate-limited per user name
and per client, and every failure and lock audited in the staff member's stream. A staff account opens every customer's
data, so it deserves at least the customers' protection.
"""

from __future__ import annotations

import secrets

from pocketbank.domain.audit import audit_by
from pocketbank.domain.channels import AuthMethod, Channel
from pocketbank.domain.customers import normalise_name, normalise_phone
from pocketbank.domain.ids import IdKind, format_id
from pocketbank.domain.passwords import check_password, normalise_password
from pocketbank.domain.principals import Principal, PrincipalKind, StaffRole
from pocketbank.errors import Forbidden, InvalidCredentials, NotFound
from pocketbank.services.auth_common import AuthDeps, LoginAttempt, Outcome, verify_with_lockout
from pocketbank.services.auth_ports import StaffRecord
from pocketbank.services.customers import CustomerView, customer_view
from pocketbank.services.sessions import SessionManager, SessionTokens


class StaffService:
    def __init__(self, deps: AuthDeps) -> None:
        self.d = deps
        self.sessions = SessionManager(deps)
        self._dummy_hash = deps.hasher.hash(secrets.token_urlsafe(16))

    def create_staff_user(self, username: str, name: str, role: StaffRole, password: str) -> str:
        """Create a teller or supervisor (seeding, tests, an admin tool); returns the ``stf_`` id."""
        user = username.strip().lower()
        if not user or len(user) > 64 or not user.isprintable():
            raise InvalidCredentials("a user name is 1-64 printable characters", param="username")
        check_password(password, common=self.d.common_passwords, context=(user, name))
        now = self.d.now()
        sid = self.d.ids.new()
        record = StaffRecord(
            sid, format_id(IdKind.STAFF, sid), user, normalise_name(name), role,
            self.d.hasher.hash(normalise_password(password)), now,
        )  # fmt: skip
        system = Principal(PrincipalKind.STAFF, sid, record.public_id, 0, Channel.COUNTER, AuthMethod.STAFF, role=role)
        with self.d.uow.begin() as tx:
            self.d.staff.insert(tx, record)
            self.d.audit.append(tx, audit_by(system, "staff.created", record.public_id, now, role=role.value))
        return record.public_id

    def login(self, username: str, password: str, client_key: str) -> SessionTokens:
        now = self.d.now()
        user = username.strip().lower()
        self.d.rate(f"login:client:{client_key}", self.d.limits.login_per_client, now)
        self.d.rate(f"login:staff:{user}", self.d.limits.login_per_phone, now)
        secret = normalise_password(password)
        out = Outcome(self.d)
        with self.d.uow.begin() as tx:
            staff = self.d.staff.find_by_username(tx, user, for_update=True)
            refused = InvalidCredentials("the user name or password is not right")
            if staff is None:
                self.d.hasher.verify(self._dummy_hash, secret)
                raise refused
            actor = Principal(
                PrincipalKind.STAFF, staff.id, staff.public_id, 0, Channel.COUNTER, AuthMethod.PASSWORD, role=staff.role
            )
            attempt = LoginAttempt(
                actor, self.d.staff, staff.failed_logins, staff.locked_until, staff.password_hash, refused
            )
            tokens = None
            if verify_with_lockout(self.d, tx, out, attempt, secret, now):
                tokens, _ = self.sessions.issue(
                    tx, out, kind=PrincipalKind.STAFF, principal_id=staff.id, public_id=staff.public_id,
                    channel=Channel.COUNTER, method=AuthMethod.PASSWORD, now=now, role=staff.role,
                )  # fmt: skip
        out.finish()  # raises the refusal, after the failure count and audit records committed
        if tokens is None:  # unreachable: a refusal was raised just above; never fall through to a session
            raise refused
        return tokens

    def find_customer(
        self, staff: Principal, *, phone: str | None = None, customer_id: str | None = None
    ) -> CustomerView:
        """A customer by mobile number or ``cus_`` id; the look-up is audited."""
        if staff.kind is not PrincipalKind.STAFF:
            raise Forbidden("this is for bank staff")
        now = self.d.now()
        with self.d.uow.begin() as tx:
            if phone is not None:
                customer = self.d.customers.find_by_phone(tx, normalise_phone(phone))
            elif customer_id is not None:
                customer = self.d.customers.get_by_public_id(tx, customer_id)
            else:
                raise NotFound("give a phone number or a customer id", param="phone")
            if customer is None:
                raise NotFound("no such customer")
            self.d.audit.append(tx, audit_by(staff, "staff.customer_viewed", customer.public_id, now))
        return customer_view(customer)
