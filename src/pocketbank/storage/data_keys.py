"""The database's own data key (``local_data_keys``), for when no POCKETBANK_DATA_KEYS is configured.

Made once, on first use, by whichever process gets there first: a second process racing it hits the primary key,
rolls back to its savepoint and reads the winner's key, so every worker seals under the same key.
"""

from __future__ import annotations

import secrets

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from pocketbank.storage.app_schema import local_data_keys as t

LOCAL_KEY_ID = "local"


def local_data_key(engine: Engine, create: bool) -> bytes | None:
    """The key named ``local``; made if missing and ``create``, else None."""
    with engine.begin() as conn:
        row = conn.execute(select(t.c.key).where(t.c.id == LOCAL_KEY_ID)).first()
        if row is not None:
            return bytes(row.key)
        if not create:
            return None
        key = secrets.token_bytes(32)
        try:
            with conn.begin_nested():
                conn.execute(insert(t).values(id=LOCAL_KEY_ID, key=key))
        except IntegrityError:
            winner = conn.execute(select(t.c.key).where(t.c.id == LOCAL_KEY_ID)).scalar_one()
            return bytes(winner)
        return key
