"""Who is asking: the authenticated principal behind a request, with the channel and how they proved it.

A ``Principal`` is what the API hands to every service call. Services never trust ids from the request body for
ownership: the principal's own id decides whose data a call may read or change, so customer A asking for B's
account gets ``not_found`` (never "forbidden", which would leak that the account exists).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pocketbank.domain.channels import AuthMethod, Channel


class PrincipalKind(StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"
    SYSTEM = "system"  # the bank's own jobs (the scheduler posting delayed transfers)


class StaffRole(StrEnum):
    TELLER = "teller"
    SUPERVISOR = "supervisor"


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    id: int  # the 128-bit id of the customer or staff member
    public_id: str  # cus_… or stf_…
    session_id: int
    channel: Channel
    auth_method: AuthMethod  # how the session was established (step-up proofs are per request)
    device_id: int = 0
    role: StaffRole | None = None

    @property
    def is_staff(self) -> bool:
        return self.kind is PrincipalKind.STAFF

    @property
    def audit_stream(self) -> tuple[str, str]:
        return self.kind.value, self.public_id
