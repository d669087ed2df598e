"""Bank staff users in SQL (``services.auth_ports.StaffStore``)."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select
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
                    )
                )
        except IntegrityError:
            raise Conflict("this staff user name is taken", param="username") from None

    def find_by_username(self, tx: Connection, username: str) -> StaffRecord | None:
        r = tx.execute(select(t).where(t.c.username == username)).first()
        if r is None:
            return None
        return StaffRecord(r.id, r.public_id, r.username, r.name, StaffRole(r.role), r.password_hash, r.created_at)
