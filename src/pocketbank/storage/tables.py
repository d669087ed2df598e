"""Imports every table module so that ``schema.metadata`` knows all tables before ``create_all``."""

from pocketbank.storage import app_schema, customers_tables, money_tables, schema

__all__ = ["app_schema", "customers_tables", "money_tables", "schema"]
