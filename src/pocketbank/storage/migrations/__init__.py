"""Alembic migrations of the PocketBank schema (both engines); run them through ``storage.migrate``."""
