"""What the money parts need to know about a customer: account class and when their device became trusted."""

from __future__ import annotations

from sqlalchemy import Engine, and_, bindparam, select

from pocketbank.domain.customers import AccountClass
from pocketbank.errors import NotFound
from pocketbank.services.transfers import Standing
from pocketbank.storage.app_db import read_connection
from pocketbank.storage.customers_tables import customers, devices
from pocketbank.storage.fast_sql import FastStatement

# A device we cannot find is treated as brand new: the cautious reading for the cooling-off window.
UNKNOWN_DEVICE = 2**62

# One statement for both facts (it runs on every transfer), through the driver (``storage.fast_sql``). The device
# is joined only when it is the customer's own: someone else's device id finds nothing.
_STANDING = FastStatement(
    select(customers.c.account_class, devices.c.trusted_at)
    .select_from(
        customers.outerjoin(
            devices, and_(devices.c.id == bindparam("device_id"), devices.c.customer_id == customers.c.id)
        )
    )
    .where(customers.c.id == bindparam("customer_id"))
)


class SqlCustomerDirectory:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def standing(self, customer_id: int, device_id: int | None) -> Standing:
        with read_connection(self.engine) as conn:
            row = _STANDING.first(conn, {"customer_id": customer_id, "device_id": device_id or 0})
        if row is None:
            raise NotFound("no such customer", param="customer_id")
        trusted_at = int(row.trusted_at) if row.trusted_at is not None else UNKNOWN_DEVICE
        return Standing(AccountClass(row.account_class), trusted_at)
