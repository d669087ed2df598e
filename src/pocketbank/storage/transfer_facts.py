"""What a transfer reads before it is made, in one statement (``services.transfer_ports.TransferFactsReader``).

Creating a transfer reads five things: an earlier attempt under the same key, the payee, both accounts, the step-up
challenge, and the customer's standing (account class, device trust). Read one by one they were five round trips,
five statements for PostgreSQL to plan and run, and five times the driver's and the kernel's work, on every
transfer. Here they are one row: a one-row anchor, left-joined to each table by its primary key, so a missing thing
is a row of nulls rather than a missing row. The destination account is the payee's when a payee is named
(``COALESCE``), so it comes in the same statement as the payee.

The statement is SQLAlchemy Core, run through the driver (``storage.fast_sql``), and the same on SQLite. Each
table's columns are labelled with a prefix of their own; the row is cut back into each store's row shape and mapped
by that store's own mapper, so a column added to a table reaches this read without a second mapping to keep.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Engine, Label, and_, bindparam, func, literal, select

from pocketbank.domain.customers import AccountClass
from pocketbank.services.transfer_ports import FactsQuery, Standing, TransferFacts
from pocketbank.storage.app_db import read_connection
from pocketbank.storage.auth import challenge_of
from pocketbank.storage.customers_tables import customers, devices
from pocketbank.storage.customers_tables import step_up_challenges as challenges
from pocketbank.storage.fast_sql import FastStatement
from pocketbank.storage.money import account_of, payee_of, record_of
from pocketbank.storage.money_tables import deposit_accounts, payees, transfer_records

T = TypeVar("T")

# A device we cannot find is treated as brand new: the cautious reading for the cooling-off window.
UNKNOWN_DEVICE = 2**62

_earlier = transfer_records.alias("earlier")
_payee = payees.alias("payee")
_source = deposit_accounts.alias("source")
_target = deposit_accounts.alias("target")
_challenge = challenges.alias("challenge")
_customer = customers.alias("customer")
_device = devices.alias("device")


class _Part:
    """One table's columns in the joined row: where they are, and the row shape its store's mapper reads."""

    def __init__(self, table: Any, prefix: str, columns: Sequence[str] | None = None) -> None:
        self.keys = tuple(columns) if columns is not None else tuple(c.key for c in table.columns)
        self.labels: list[Label[Any]] = [table.c[k].label(f"{prefix}_{k}") for k in self.keys]
        self.shape: Callable[[Sequence[Any]], Any] = namedtuple(prefix, self.keys)._make  # type: ignore[attr-defined]
        self.start = 0

    def cut(self, row: Sequence[Any]) -> Any | None:
        """This part of ``row`` in its own shape; None when the join found nothing (its first column, a primary
        key or a not-null column, is null)."""
        values = row[self.start : self.start + len(self.keys)]
        return None if values[0] is None else self.shape(values)


def _placed(*parts: _Part) -> tuple[_Part, ...]:
    """The parts in row order, each told where its columns start."""
    at = 0
    for part in parts:
        part.start, at = at, at + len(part.keys)
    return parts


_EARLIER = _Part(_earlier, "r")
_PAYEE = _Part(_payee, "p")
_SOURCE = _Part(_source, "a")
_TARGET = _Part(_target, "b")
_CHALLENGE = _Part(_challenge, "c")
_STANDING = _Part(_customer, "s", ["account_class"])
_DEVICE = _Part(_device, "d", ["trusted_at"])
_PARTS = _placed(_EARLIER, _PAYEE, _SOURCE, _TARGET, _CHALLENGE, _STANDING, _DEVICE)

_anchor = select(literal(1).label("one")).subquery("anchor")
_READ = FastStatement(
    select(*(label for p in _PARTS for label in p.labels)).select_from(
        _anchor.outerjoin(_earlier, _earlier.c.id == bindparam("transfer_id"))
        .outerjoin(_payee, and_(_payee.c.id == bindparam("payee_id"), _payee.c.customer_id == bindparam("customer_id")))
        .outerjoin(_source, _source.c.id == bindparam("from_account"))
        .outerjoin(
            _target,
            _target.c.id == func.coalesce(_payee.c.account_id, bindparam("to_account", type_=_target.c.id.type)),
        )
        .outerjoin(_challenge, _challenge.c.id == bindparam("challenge_id"))
        .outerjoin(_customer, _customer.c.id == bindparam("customer_id"))
        # The device only when it is the customer's own: someone else's device id finds nothing.
        .outerjoin(_device, and_(_device.c.id == bindparam("device_id"), _device.c.customer_id == _customer.c.id))
    )
)


class SqlTransferFacts:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def read(self, query: FactsQuery) -> TransferFacts:
        params = {
            "transfer_id": query.transfer_id,
            "payee_id": query.payee_id,
            "customer_id": query.customer_id,
            "from_account": query.from_account,
            "to_account": query.to_account,
            "challenge_id": query.challenge_id,
            "device_id": query.device_id,
        }
        with read_connection(self.engine) as conn:
            row = _READ.first(conn, params)
        assert row is not None, "the anchor is one row"
        ends = [account_of(r) for r in (_SOURCE.cut(row), _TARGET.cut(row)) if r is not None]
        return TransferFacts(
            earlier=_mapped(record_of, _EARLIER.cut(row)),
            payee=_mapped(payee_of, _PAYEE.cut(row)),
            accounts={a.id: a for a in ends},
            challenge=_mapped(challenge_of, _CHALLENGE.cut(row)),
            standing=_standing(_STANDING.cut(row), _DEVICE.cut(row)),
        )


def _mapped(mapper: Callable[[Any], T], part: Any | None) -> T | None:
    return None if part is None else mapper(part)


def _standing(customer: Any | None, device: Any | None) -> Standing | None:
    if customer is None:
        return None
    trusted_at = int(device.trusted_at) if device is not None else UNKNOWN_DEVICE  # null when not trusted yet
    return Standing(AccountClass(customer.account_class), trusted_at)
