"""The staff console's API: staff login, customer look-up, account-class upgrades (``counter`` channel)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status

from pocketbank.api.deps import ContainerDep, CurrentStaff
from pocketbank.api.routes.customers import client_key
from pocketbank.api.schemas.auth import CustomerOut, SessionOut, StaffLoginIn, UpgradeIn
from pocketbank.domain.customers import AccountClass

router = APIRouter(prefix="/v1/staff", tags=["staff"])


@router.post("/sessions", operation_id="staff_login", status_code=status.HTTP_201_CREATED)
def staff_login(body: StaffLoginIn, request: Request, c: ContainerDep) -> SessionOut:
    """Log a teller or supervisor in."""
    return SessionOut.of(c.staff.login(body.username, body.password, client_key(request)))


@router.get("/customers", operation_id="staff_find_customer")
def find_customer(
    staff: CurrentStaff,
    c: ContainerDep,
    phone: Annotated[str | None, Query(max_length=32)] = None,
    customer_id: Annotated[str | None, Query(max_length=40)] = None,
) -> CustomerOut:
    """Find a customer by mobile number or ``cus_`` id (audited)."""
    return CustomerOut.of(c.staff.find_customer(staff, phone=phone, customer_id=customer_id))


@router.post("/customers/{customer_id}/upgrade", operation_id="staff_upgrade_customer")
def upgrade_customer(
    customer_id: Annotated[str, Path(max_length=40)], body: UpgradeIn, staff: CurrentStaff, c: ContainerDep
) -> CustomerOut:
    """Change a customer's account class, e.g. to class I after an in-person identity check."""
    view = c.customers.upgrade_class(staff, customer_id, AccountClass(body.account_class), body.reason)
    return CustomerOut.of(view)
