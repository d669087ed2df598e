"""Tables of the money parts: deposit accounts, payees, and transfer records (the ledger holds the money)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, String, Table, Text, text

from pocketbank.storage.schema import metadata
from pocketbank.storage.types import Id128

deposit_accounts = Table(
    "deposit_accounts",
    metadata,
    Column("id", Id128, primary_key=True),  # = ledger account id
    Column("customer_id", Id128, nullable=False),
    Column("currency", String(8), nullable=False),
    Column("ledger", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("is_default", Boolean, nullable=False),
    Column("opened_at", BigInteger, nullable=False),
    Column("closed_at", BigInteger, nullable=True),
    Index("ix_deposit_accounts_customer", "customer_id"),
    # One open account per customer and currency, whatever two requests racing to open one read beforehand.
    Index(
        "ux_deposit_accounts_open_currency",
        "customer_id",
        "currency",
        unique=True,
        sqlite_where=text("status = 'open'"),
        postgresql_where=text("status = 'open'"),
    ),
)

payees = Table(
    "payees",
    metadata,
    Column("id", Id128, primary_key=True),
    Column("customer_id", Id128, nullable=False),
    Column("name", String(64), nullable=False),
    Column("account_id", Id128, nullable=False),
    Column("currency", String(8), nullable=False),
    Column("added_at", BigInteger, nullable=False),
    Column("removed_at", BigInteger, nullable=True),
    Index("ix_payees_customer", "customer_id"),
)

transfer_records = Table(
    "transfer_records",
    metadata,
    Column("id", Id128, primary_key=True),
    Column("customer_id", Id128, nullable=False),
    Column("from_account", Id128, nullable=False),
    Column("to_account", Id128, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(8), nullable=False),
    Column("fee", BigInteger, nullable=False),
    Column("fee_rule", String(96), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("auth_method", String(16), nullable=False),
    Column("arrival", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # When the status last changed (ns); null until it first does. The scheduler finds a reversal cut short by it.
    Column("status_at", BigInteger, nullable=True),
    Column("scheduled_for", BigInteger, nullable=True),
    Column("payee_id", Id128, nullable=True),
    Column("memo", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("legs", Text, nullable=False),  # JSON: the ledger chain (role + transfer fields)
    Index("ix_transfer_records_customer", "customer_id", "created_at"),
    Index("ix_transfer_records_due", "status", "scheduled_for"),
)
