"""Bank staff users in SQL (``services.auth_ports.StaffStore``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from pocketbank.domain.principals import StaffRole
from pocketbank.errors import Conflict
from pocketbank.services.auth_ports import StaffRecord
from pocketbank.storage.customers_tables import staff_users as t


class SqlStaffStore:
    def insert(self, tx: Connection, staff: StaffRecord) -> None:
        try:
            with tx.begin_nested():
                tx.execute(
                    insert(t).values(
                        id=staff.id,
                        public_id=staff.public_id,
                        username=staff.username,
                        name=staff.name,
                        role=staff.role.value,
                        password_hash=staff.password_hash,
                        created_at=staff.created_at,
                        failed_logins=staff.failed_logins,
                        locked_until=staff.locked_until,
                    )
                )
        except IntegrityError:
            raise Conflict("this staff user name is taken", param="username") from None

    def find_by_username(self, tx: Connection, username: str, *, for_update: bool = False) -> StaffRecord | None:
        q = select(t).where(t.c.username == username)
        # Row locks serialise concurrent failures on PostgreSQL; SQLite's BEGIN IMMEDIATE already does.
        if for_update and tx.dialect.name == "postgresql":
            q = q.with_for_update()
        r = tx.execute(q).first()
        if r is None:
            return None
        return StaffRecord(
            r.id, r.public_id, r.username, r.name, StaffRole(r.role), r.password_hash, r.created_at,
            r.failed_logins, r.locked_until,
        )  # fmt: skip

    def _set(self, tx: Connection, staff_id: int, **values: Any) -> None:
        tx.execute(update(t).where(t.c.id == staff_id).values(**values))

    def record_login_failure(self, tx: Connection, staff_id: int, failed_logins: int, locked_until: int) -> None:
        self._set(tx, staff_id, failed_logins=failed_logins, locked_until=locked_until)

    def reset_login_failures(self, tx: Connection, staff_id: int) -> None:
        self._set(tx, staff_id, failed_logins=0, locked_until=0)
