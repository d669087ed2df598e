"""Devices, sessions, one-time codes and step-up challenges in SQL (``services.auth_ports.AuthStore``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Row, Select, bindparam, insert, select, update

from pocketbank.domain.channels import AuthMethod, Channel
from pocketbank.domain.principals import PrincipalKind, StaffRole
from pocketbank.services.auth_ports import ChallengeRecord, CodeRecord, DeviceRecord, SessionRecord
from pocketbank.storage import bulk, pg_arrays
from pocketbank.storage.customers_tables import devices, one_time_codes, sessions, spent_refresh_tokens
from pocketbank.storage.customers_tables import step_up_challenges as challenges
from pocketbank.storage.fast_sql import FastStatement


def _device(r: Row[Any]) -> DeviceRecord:
    return DeviceRecord(r.id, r.customer_id, r.label, r.created_at, r.trusted_at, r.revoked_at, r.last_seen_at)


def _session(r: Row[Any]) -> SessionRecord:
    return SessionRecord(
        id=r.id,
        principal_kind=PrincipalKind(r.principal_kind),
        principal_id=r.principal_id,
        principal_public_id=r.principal_public_id,
        role=StaffRole(r.role) if r.role else None,
        device_id=r.device_id or 0,
        access_hash=r.access_hash,
        access_expires_at=r.access_expires_at,
        refresh_hash=r.refresh_hash,
        refresh_expires_at=r.refresh_expires_at,
        last_seen_at=r.last_seen_at,
        revoked_at=r.revoked_at,
        created_at=r.created_at,
        channel=Channel(r.channel),
        auth_method=AuthMethod(r.auth_method),
    )


def _code(r: Row[Any]) -> CodeRecord:
    return CodeRecord(r.id, r.purpose, r.target, r.code_hash, r.created_at, r.expires_at, r.attempts, r.used_at)


def challenge_of(r: Any) -> ChallengeRecord:
    return ChallengeRecord(
        r.id, r.customer_id, r.binding, AuthMethod(r.method), r.code_hash, r.created_at, r.expires_at, r.attempts,
        r.used_at,
    )  # fmt: skip


# They run on every authenticated request or money movement: through the driver (``storage.fast_sql``).
_SESSION_BY_ACCESS = FastStatement(select(sessions).where(sessions.c.access_hash == bindparam("h")))
_CHALLENGE_BY_ID = select(challenges).where(challenges.c.id == bindparam("id"))
_CHALLENGE = FastStatement(_CHALLENGE_BY_ID)
_CHALLENGE_LOCKED = FastStatement(_CHALLENGE_BY_ID.with_for_update())
_USE_CHALLENGE = FastStatement(
    update(challenges).where(challenges.c.id == bindparam("cid")).values(used_at=bindparam("at"))
)
# Spend a checked proof unless it was spent or used up meanwhile (compare-and-set; RETURNING names the ones spent).
_SPEND_CHALLENGE = FastStatement(
    update(challenges)
    .where(
        (challenges.c.id == bindparam("cid"))
        & challenges.c.used_at.is_(None)
        & (challenges.c.attempts < bindparam("max_attempts"))
    )
    .values(used_at=bindparam("at"))
    .returning(challenges.c.id)
)
_SPEND_CHALLENGES = (
    "UPDATE step_up_challenges SET used_at = %s WHERE id = ANY(%s::bytea[]) AND used_at IS NULL AND attempts < %s "
    "RETURNING id"
)


class SqlAuthStore:
    def __init__(self, engine: Engine) -> None:
        self._lock_rows = engine.dialect.name == "postgresql"

    def _locked(self, q: Select[Any], for_update: bool) -> Select[Any]:
        return q.with_for_update() if for_update and self._lock_rows else q

    # --- devices ----------------------------------------------------------------------------------------------

    def insert_device(self, tx: Connection, device: DeviceRecord) -> None:
        tx.execute(
            insert(devices).values(
                id=device.id,
                customer_id=device.customer_id,
                label=device.label,
                created_at=device.created_at,
                trusted_at=device.trusted_at,
                revoked_at=device.revoked_at,
                last_seen_at=device.last_seen_at,
            )
        )

    def get_device(self, tx: Connection, device_id: int) -> DeviceRecord | None:
        r = tx.execute(select(devices).where(devices.c.id == device_id)).first()
        return _device(r) if r else None

    def list_devices(self, tx: Connection, customer_id: int) -> list[DeviceRecord]:
        q = select(devices).where(devices.c.customer_id == customer_id).order_by(devices.c.id)
        return [_device(r) for r in tx.execute(q)]

    def trust_device(self, tx: Connection, device_id: int, at: int) -> None:
        tx.execute(update(devices).where(devices.c.id == device_id).values(trusted_at=at, last_seen_at=at))

    def revoke_device(self, tx: Connection, device_id: int, at: int) -> None:
        tx.execute(update(devices).where(devices.c.id == device_id).values(revoked_at=at))

    def touch_device(self, tx: Connection, device_id: int, at: int) -> None:
        tx.execute(update(devices).where(devices.c.id == device_id).values(last_seen_at=at))

    # --- sessions ---------------------------------------------------------------------------------------------

    def insert_session(self, tx: Connection, session: SessionRecord) -> None:
        tx.execute(
            insert(sessions).values(
                id=session.id,
                principal_kind=session.principal_kind.value,
                principal_id=session.principal_id,
                principal_public_id=session.principal_public_id,
                role=session.role.value if session.role else None,
                device_id=session.device_id or None,
                access_hash=session.access_hash,
                access_expires_at=session.access_expires_at,
                refresh_hash=session.refresh_hash,
                refresh_expires_at=session.refresh_expires_at,
                last_seen_at=session.last_seen_at,
                revoked_at=session.revoked_at,
                created_at=session.created_at,
                channel=session.channel.value,
                auth_method=session.auth_method.value,
            )
        )

    def session_by_access(self, tx: Connection, access_hash: str) -> SessionRecord | None:
        r = _SESSION_BY_ACCESS.first(tx, {"h": access_hash})
        return _session(r) if r else None

    def session_by_refresh(self, tx: Connection, refresh_hash: str) -> SessionRecord | None:
        r = tx.execute(self._locked(select(sessions).where(sessions.c.refresh_hash == refresh_hash), True)).first()
        return _session(r) if r else None

    def session_by_spent_refresh(self, tx: Connection, refresh_hash: str) -> SessionRecord | None:
        q = (
            select(sessions)
            .join(spent_refresh_tokens, spent_refresh_tokens.c.session_id == sessions.c.id)
            .where(spent_refresh_tokens.c.refresh_hash == refresh_hash)
        )
        r = tx.execute(q).first()
        return _session(r) if r else None

    def rotate_session(
        self,
        tx: Connection,
        session: SessionRecord,
        access_hash: str,
        access_expires_at: int,
        refresh_hash: str,
        now: int,
    ) -> bool:
        changed = tx.execute(
            update(sessions)
            .where((sessions.c.id == session.id) & (sessions.c.refresh_hash == session.refresh_hash))
            .values(
                access_hash=access_hash,
                access_expires_at=access_expires_at,
                refresh_hash=refresh_hash,
                last_seen_at=now,
            )
        ).rowcount
        if changed != 1:
            return False
        tx.execute(
            insert(spent_refresh_tokens).values(refresh_hash=session.refresh_hash, session_id=session.id, spent_at=now)
        )
        return True

    def touch_session(self, tx: Connection, session_id: int, at: int) -> None:
        tx.execute(update(sessions).where(sessions.c.id == session_id).values(last_seen_at=at))

    def revoke_session(self, tx: Connection, session_id: int, at: int) -> None:
        tx.execute(
            update(sessions)
            .where((sessions.c.id == session_id) & sessions.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )

    def revoke_sessions(
        self, tx: Connection, principal_id: int, at: int, *, except_session: int = 0, device_id: int = 0
    ) -> int:
        where = (sessions.c.principal_id == principal_id) & sessions.c.revoked_at.is_(None)
        if except_session:
            where &= sessions.c.id != except_session
        if device_id:
            where &= sessions.c.device_id == device_id
        return int(tx.execute(update(sessions).where(where).values(revoked_at=at)).rowcount)

    # --- one-time codes ---------------------------------------------------------------------------------------

    def insert_code(self, tx: Connection, code: CodeRecord) -> None:
        tx.execute(
            insert(one_time_codes).values(
                id=code.id,
                purpose=code.purpose,
                target=code.target,
                code_hash=code.code_hash,
                created_at=code.created_at,
                expires_at=code.expires_at,
                attempts=code.attempts,
                used_at=code.used_at,
            )
        )

    def get_code(self, tx: Connection, code_id: int, *, for_update: bool = False) -> CodeRecord | None:
        r = tx.execute(self._locked(select(one_time_codes).where(one_time_codes.c.id == code_id), for_update)).first()
        return _code(r) if r else None

    def latest_code(self, tx: Connection, purpose: str, target: str, *, for_update: bool = False) -> CodeRecord | None:
        q = (
            select(one_time_codes)
            .where((one_time_codes.c.purpose == purpose) & (one_time_codes.c.target == target))
            .order_by(one_time_codes.c.created_at.desc(), one_time_codes.c.id.desc())
            .limit(1)
        )
        r = tx.execute(self._locked(q, for_update)).first()
        return _code(r) if r else None

    def count_code_attempt(self, tx: Connection, code_id: int) -> None:
        c = one_time_codes.c
        tx.execute(update(one_time_codes).where(c.id == code_id).values(attempts=c.attempts + 1))

    def use_code(self, tx: Connection, code_id: int, at: int) -> None:
        tx.execute(update(one_time_codes).where(one_time_codes.c.id == code_id).values(used_at=at))

    # --- step-up challenges -----------------------------------------------------------------------------------

    def insert_challenge(self, tx: Connection, challenge: ChallengeRecord) -> None:
        tx.execute(
            insert(challenges).values(
                id=challenge.id,
                customer_id=challenge.customer_id,
                binding=challenge.binding,
                method=challenge.method.value,
                code_hash=challenge.code_hash,
                created_at=challenge.created_at,
                expires_at=challenge.expires_at,
                attempts=challenge.attempts,
                used_at=challenge.used_at,
            )
        )

    def get_challenge(self, tx: Connection, challenge_id: int, *, for_update: bool = False) -> ChallengeRecord | None:
        q = _CHALLENGE_LOCKED if for_update and self._lock_rows else _CHALLENGE
        r = q.first(tx, {"id": challenge_id})
        return challenge_of(r) if r else None

    def count_challenge_attempt(self, tx: Connection, challenge_id: int) -> None:
        c = challenges.c
        tx.execute(update(challenges).where(c.id == challenge_id).values(attempts=c.attempts + 1))

    def use_challenge(self, tx: Connection, challenge_id: int, at: int) -> None:
        _USE_CHALLENGE.run(tx, {"cid": challenge_id, "at": at})

    def spend_challenges(self, tx: Connection, challenge_ids: Sequence[int], at: int, max_attempts: int) -> set[int]:
        if tx.dialect.name != "postgresql" or len(challenge_ids) < 2:
            params = {"at": at, "max_attempts": max_attempts}
            return {cid for cid in challenge_ids if _SPEND_CHALLENGE.first(tx, {**params, "cid": cid}) is not None}
        ids = pg_arrays.ids(challenge_ids)
        return bulk.ids_of(bulk.execute(tx, _SPEND_CHALLENGES, [at, ids, max_attempts]))
