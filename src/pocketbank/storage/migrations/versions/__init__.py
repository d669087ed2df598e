"""Alembic revisions, oldest first: ``v0001_baseline``, ``v0002_totp_sealing_staff_lockout``."""
