"""Sessions: bearer access tokens (15 minutes) with rotating refresh tokens (30 days), stored only as hashes.

* **Idle timeout.** A session unused for 5 minutes is over (PSD2 RTS Art. 4(3)(d)), for access and refresh
  alike. ``last_seen_at`` is written at most every 30 seconds to spare the database a write per request, so the
  timeout can strike up to 30 seconds early, never late.
* **Rotation and reuse detection.** Every refresh swaps both tokens; the old refresh token is remembered as spent.
  Presenting a spent one means two parties hold the session's tokens (one of them stole it), so the whole session
  is revoked and both must log in again (OAuth 2.0 Security BCP, section 4.14).
* **Absolute lifetime.** The refresh expiry is fixed when the session starts; rotation does not extend it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pocketbank.domain.audit import audit_by
from pocketbank.domain.channels import AuthMethod, Channel
from pocketbank.domain.ids import IdKind, format_id
from pocketbank.domain.principals import Principal, PrincipalKind, StaffRole
from pocketbank.errors import SessionExpired, Unauthenticated
from pocketbank.services.auth_common import MINUTE, AuthDeps, Outcome, new_token, token_hash
from pocketbank.services.auth_ports import SessionRecord
from pocketbank.services.ports import Tx

ACCESS_TTL: Final = 15 * MINUTE
REFRESH_TTL: Final = 30 * 24 * 60 * MINUTE
IDLE_TIMEOUT: Final = 5 * MINUTE
TOUCH_EVERY: Final = MINUTE // 2


@dataclass(frozen=True, slots=True)
class SessionTokens:
    session_id: str  # ses_…
    access_token: str
    access_expires_at: int
    refresh_token: str
    refresh_expires_at: int
    device_id: str | None  # dev_… the app keeps to skip the new-device code next time


def principal_of(s: SessionRecord) -> Principal:
    return Principal(
        kind=s.principal_kind,
        id=s.principal_id,
        public_id=s.principal_public_id,
        session_id=s.id,
        channel=s.channel,
        auth_method=s.auth_method,
        device_id=s.device_id,
        role=s.role,
    )


class SessionManager:
    def __init__(self, deps: AuthDeps) -> None:
        self.d = deps

    def issue(
        self,
        tx: Tx,
        out: Outcome,
        *,
        kind: PrincipalKind,
        principal_id: int,
        public_id: str,
        channel: Channel,
        method: AuthMethod,
        now: int,
        device_id: int = 0,
        role: StaffRole | None = None,
    ) -> tuple[SessionTokens, Principal]:
        access, refresh = new_token(), new_token()
        record = SessionRecord(
            id=self.d.ids.new(),
            principal_kind=kind,
            principal_id=principal_id,
            principal_public_id=public_id,
            role=role,
            device_id=device_id,
            access_hash=token_hash(access),
            access_expires_at=now + ACCESS_TTL,
            refresh_hash=token_hash(refresh),
            refresh_expires_at=now + REFRESH_TTL,
            last_seen_at=now,
            revoked_at=None,
            created_at=now,
            channel=channel,
            auth_method=method,
        )
        self.d.store.insert_session(tx, record)
        principal = principal_of(record)
        subject = format_id(IdKind.SESSION, record.id)
        self.d.audit.append(tx, audit_by(principal, "session.created", subject, now))
        out.emit(
            tx, "session.started", channel.value, now, principal=public_id, kind=kind.value, auth_method=method.value
        )
        tokens = SessionTokens(
            session_id=subject,
            access_token=access,
            access_expires_at=record.access_expires_at,
            refresh_token=refresh,
            refresh_expires_at=record.refresh_expires_at,
            device_id=format_id(IdKind.DEVICE, device_id) if device_id else None,
        )
        return tokens, principal

    def authenticate(self, access_token: str, now: int) -> Principal:
        with self.d.uow.read() as tx:
            s = self.d.store.session_by_access(tx, token_hash(access_token))
        if s is None or s.revoked_at is not None:
            raise Unauthenticated("this access token is not valid; log in again")
        if now >= s.access_expires_at:
            raise SessionExpired("the access token has expired; refresh it")
        principal = principal_of(s)
        if now - s.last_seen_at > IDLE_TIMEOUT:
            with self.d.uow.begin() as tx:
                self.d.store.revoke_session(tx, s.id, now)
                self.d.audit.append(
                    tx, audit_by(principal, "session.idle_timeout", format_id(IdKind.SESSION, s.id), now)
                )
            raise SessionExpired("the session was idle for more than 5 minutes; log in again")
        if now - s.last_seen_at >= TOUCH_EVERY:
            with self.d.uow.begin() as tx:
                self.d.store.touch_session(tx, s.id, now)
        return principal

    def refresh(self, refresh_token: str, now: int) -> SessionTokens:
        h = token_hash(refresh_token)
        out = Outcome(self.d)
        with self.d.uow.begin() as tx:
            s = self.d.store.session_by_refresh(tx, h)
            if s is None:
                spent = self.d.store.session_by_spent_refresh(tx, h)
                if spent is not None and spent.revoked_at is None:
                    self.d.store.revoke_session(tx, spent.id, now)
                    subject = format_id(IdKind.SESSION, spent.id)
                    self.d.audit.append(tx, audit_by(principal_of(spent), "session.refresh_reused", subject, now))
                out.refuse(Unauthenticated("this refresh token is not valid; log in again"))
            elif s.revoked_at is not None:
                out.refuse(Unauthenticated("this refresh token is not valid; log in again"))
            elif now >= s.refresh_expires_at or now - s.last_seen_at > IDLE_TIMEOUT:
                self.d.store.revoke_session(tx, s.id, now)
                out.refuse(SessionExpired("the session has expired; log in again"))
            else:
                access, refresh = new_token(), new_token()
                if not self.d.store.rotate_session(
                    tx, s, token_hash(access), now + ACCESS_TTL, token_hash(refresh), now
                ):
                    out.refuse(Unauthenticated("this refresh token is not valid; log in again"))
                else:
                    subject = format_id(IdKind.SESSION, s.id)
                    self.d.audit.append(tx, audit_by(principal_of(s), "session.refreshed", subject, now))
                    tokens = SessionTokens(
                        subject, access, now + ACCESS_TTL, refresh, s.refresh_expires_at,
                        format_id(IdKind.DEVICE, s.device_id) if s.device_id else None,
                    )  # fmt: skip
        out.finish()
        return tokens

    def end(self, tx: Tx, principal: Principal, now: int) -> None:
        self.d.store.revoke_session(tx, principal.session_id, now)
        self.d.audit.append(
            tx, audit_by(principal, "session.ended", format_id(IdKind.SESSION, principal.session_id), now)
        )

    def end_all(self, tx: Tx, principal: Principal, now: int, *, keep_current: bool) -> int:
        keep = principal.session_id if keep_current else 0
        ended = self.d.store.revoke_sessions(tx, principal.id, now, except_session=keep)
        self.d.audit.append(
            tx,
            audit_by(principal, "session.ended_all", principal.public_id, now, ended=ended, kept_current=keep_current),
        )
        return ended
