"""Customers in SQL (``services.auth_ports.CustomerStore``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, Row, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from pocketbank.domain.customers import AccountClass, CustomerStatus, IdKind
from pocketbank.errors import AlreadyRegistered
from pocketbank.services.auth_ports import LEGACY_PLAINTEXT, CustomerRecord, Sealed
from pocketbank.storage.customers_tables import customers as t


def _sealed(blob: str | None, key_id: str | None) -> Sealed | None:
    if blob is None:
        return None
    return Sealed(key_id if key_id is not None else LEGACY_PLAINTEXT, blob)


def _record(r: Row[Any]) -> CustomerRecord:
    return CustomerRecord(
        id=r.id,
        public_id=r.public_id,
        phone=r.phone,
        name=r.name,
        id_kind=IdKind(r.id_kind),
        id_number=r.id_number,
        account_class=AccountClass(r.account_class),
        status=CustomerStatus(r.status),
        password_hash=r.password_hash,
        pin_hash=r.pin_hash,
        totp_secret=_sealed(r.totp_secret, r.totp_key_id),
        totp_enabled_at=r.totp_enabled_at,
        totp_last_step=r.totp_last_step,
        failed_logins=r.failed_logins,
        locked_until=r.locked_until,
        created_at=r.created_at,
        phone_verified_at=r.phone_verified_at,
    )


_BY_ID = select(t).where(t.c.id == bindparam("id"))
_BY_ID_LOCKED = _BY_ID.with_for_update()


class SqlCustomerStore:
    def __init__(self, engine: Engine) -> None:
        self._lock_rows = engine.dialect.name == "postgresql"

    def _one(self, tx: Connection, where: Any, for_update: bool = False) -> CustomerRecord | None:
        q = select(t).where(where)
        if for_update and self._lock_rows:
            q = q.with_for_update()
        row = tx.execute(q).first()
        return _record(row) if row else None

    def insert(self, tx: Connection, customer: CustomerRecord) -> None:
        try:
            with tx.begin_nested():
                tx.execute(
                    insert(t).values(
                        id=customer.id,
                        public_id=customer.public_id,
                        phone=customer.phone,
                        name=customer.name,
                        id_kind=customer.id_kind.value,
                        id_number=customer.id_number,
                        account_class=int(customer.account_class),
                        status=customer.status.value,
                        password_hash=customer.password_hash,
                        pin_hash=customer.pin_hash,
                        **_sealed_values(customer.totp_secret),
                        totp_enabled_at=customer.totp_enabled_at,
                        totp_last_step=customer.totp_last_step,
                        failed_logins=customer.failed_logins,
                        locked_until=customer.locked_until,
                        created_at=customer.created_at,
                        phone_verified_at=customer.phone_verified_at,
                    )
                )
        except IntegrityError:
            raise AlreadyRegistered("this mobile number or identity document is already registered") from None

    def get(self, tx: Connection, customer_id: int, *, for_update: bool = False) -> CustomerRecord | None:
        # Statements built once: this runs on every step-up (see ``storage.money`` on what building costs).
        q = _BY_ID_LOCKED if for_update and self._lock_rows else _BY_ID
        row = tx.execute(q, {"id": customer_id}).first()
        return _record(row) if row else None

    def get_by_public_id(self, tx: Connection, public_id: str) -> CustomerRecord | None:
        return self._one(tx, t.c.public_id == public_id)

    def find_by_phone(self, tx: Connection, phone: str, *, for_update: bool = False) -> CustomerRecord | None:
        return self._one(tx, t.c.phone == phone, for_update)

    def find_by_document(self, tx: Connection, id_kind: IdKind, id_number: str) -> CustomerRecord | None:
        return self._one(tx, (t.c.id_kind == id_kind.value) & (t.c.id_number == id_number))

    def _set(self, tx: Connection, customer_id: int, **values: Any) -> None:
        tx.execute(update(t).where(t.c.id == customer_id).values(**values))

    def record_login_failure(self, tx: Connection, customer_id: int, failed_logins: int, locked_until: int) -> None:
        self._set(tx, customer_id, failed_logins=failed_logins, locked_until=locked_until)

    def reset_login_failures(self, tx: Connection, customer_id: int) -> None:
        self._set(tx, customer_id, failed_logins=0, locked_until=0)

    def set_password_hash(self, tx: Connection, customer_id: int, password_hash: str) -> None:
        self._set(tx, customer_id, password_hash=password_hash)

    def set_pin_hash(self, tx: Connection, customer_id: int, pin_hash: str) -> None:
        self._set(tx, customer_id, pin_hash=pin_hash)

    def set_totp(self, tx: Connection, customer_id: int, secret: Sealed | None, enabled_at: int | None) -> None:
        self._set(tx, customer_id, **_sealed_values(secret), totp_enabled_at=enabled_at, totp_last_step=0)

    def reseal_totp(self, tx: Connection, customer_id: int, old: Sealed, new: Sealed) -> bool:
        key_matches = t.c.totp_key_id.is_(None) if old.key_id == LEGACY_PLAINTEXT else t.c.totp_key_id == old.key_id
        where = (t.c.id == customer_id) & (t.c.totp_secret == old.blob) & key_matches
        return bool(tx.execute(update(t).where(where).values(**_sealed_values(new))).rowcount == 1)

    def totp_sealed_by_other_keys(
        self, tx: Connection, key_id: str, after_id: int, limit: int
    ) -> list[tuple[int, Sealed]]:
        q = (
            select(t.c.id, t.c.totp_secret, t.c.totp_key_id)
            .where(t.c.totp_secret.is_not(None) & (t.c.id > after_id))
            .where(t.c.totp_key_id.is_(None) | (t.c.totp_key_id != key_id))
            .order_by(t.c.id)
            .limit(limit)
        )
        return [(r.id, s) for r in tx.execute(q) if (s := _sealed(r.totp_secret, r.totp_key_id)) is not None]

    def set_totp_last_step(self, tx: Connection, customer_id: int, step: int) -> None:
        self._set(tx, customer_id, totp_last_step=step)

    def set_account_class(self, tx: Connection, customer_id: int, account_class: AccountClass) -> None:
        self._set(tx, customer_id, account_class=int(account_class))


def _sealed_values(secret: Sealed | None) -> dict[str, str | None]:
    if secret is not None and secret.key_id == LEGACY_PLAINTEXT:
        raise ValueError("refusing to store a TOTP seed in the clear")
    return {"totp_secret": secret.blob if secret else None, "totp_key_id": secret.key_id if secret else None}
