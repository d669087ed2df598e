"""Payees: the accounts a customer has saved to pay.

A payee added recently is a classic sign of account takeover (a fraudster's first move is to add their own mule
account), so for a cooling-off window after it is added (12 h by default) each transfer to it is capped
(``domain.limits.cooling_off_cap``). Removing a payee keeps the record (``removed_at``) for the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Payee:
    id: int
    customer_id: int
    name: str
    account_id: int  # a PocketBank deposit account (interbank payees come with the interbank rails)
    currency: str
    added_at: int
    removed_at: int | None = None

    def usable_by(self, customer_id: int) -> bool:
        """Whether ``customer_id`` may pay this payee: it is theirs, and not removed."""
        return self.customer_id == customer_id and self.removed_at is None
