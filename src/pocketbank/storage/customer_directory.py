"""What the money parts need to know about a customer: account class and when their device became trusted."""

from __future__ import annotations

from sqlalchemy import Engine, bindparam, select

from pocketbank.domain.customers import AccountClass
from pocketbank.domain.principals import Principal
from pocketbank.errors import NotFound
from pocketbank.storage.app_db import read_connection
from pocketbank.storage.customers_tables import customers, devices

# A device we cannot find is treated as brand new: the cautious reading for the cooling-off window.
UNKNOWN_DEVICE = 2**62

# Built once (both run on every transfer): see ``storage.money`` on what building per call costs.
_CLASS_OF = select(customers.c.account_class).where(customers.c.id == bindparam("id"))
_TRUSTED_AT = select(devices.c.trusted_at).where(
    (devices.c.id == bindparam("device_id")) & (devices.c.customer_id == bindparam("customer_id"))
)


class SqlCustomerDirectory:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def account_class(self, customer_id: int) -> AccountClass:
        with read_connection(self.engine) as conn:
            value = conn.execute(_CLASS_OF, {"id": customer_id}).scalar()
        if value is None:
            raise NotFound("no such customer", param="customer_id")
        return AccountClass(value)

    def device_trusted_at(self, principal: Principal) -> int:
        with read_connection(self.engine) as conn:
            value = conn.execute(_TRUSTED_AT, {"device_id": principal.device_id, "customer_id": principal.id}).scalar()
        return int(value) if value is not None else UNKNOWN_DEVICE
