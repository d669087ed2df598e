"""Schema migrations on every engine: a database from before TOTP sealing (and the outbox purge index) is upgraded
in place, rows intact; a fresh one is stamped at head; a second run and concurrent runs change nothing."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, create_engine, inspect, text

from pocketbank.storage.engine import create_schema, sqlalchemy_url
from pocketbank.storage.migrate import current_revision, head_revision

CUSTOMER_ID = (7).to_bytes(16, "big")
STAFF_ID = (9).to_bytes(16, "big")


def _engine(url: str) -> Engine:
    return create_engine(sqlalchemy_url(url))


def _make_old_database(url: str) -> None:
    """Today's tables minus the 2026-11 change, as ``create_all`` made them then, and no ``alembic_version``."""
    create_schema(url)
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")
            conn.exec_driver_sql("ALTER TABLE customers DROP COLUMN totp_key_id")
            conn.exec_driver_sql("ALTER TABLE staff_users DROP COLUMN failed_logins")
            conn.exec_driver_sql("ALTER TABLE staff_users DROP COLUMN locked_until")
            conn.exec_driver_sql("DROP INDEX ix_outbox_dispatched")  # 0003
            conn.exec_driver_sql("ALTER TABLE transfer_records DROP COLUMN status_at")  # 0005
            conn.exec_driver_sql("DROP INDEX ux_deposit_accounts_open_currency")  # 0006
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("ALTER TABLE customers ALTER COLUMN totp_secret TYPE VARCHAR(64)")
            conn.execute(
                text(
                    "INSERT INTO customers (id, public_id, phone, name, id_kind, id_number, account_class, status,"
                    " password_hash, totp_secret, totp_last_step, failed_logins, locked_until, created_at)"
                    " VALUES (:id, 'cus_old', '+8613800000000', 'Old Customer', 'cn_ric', '11010519491231002X', 1,"
                    " 'active', 'hash', 'JBSWY3DPEHPK3PXP', 0, 0, 0, 1)"
                ),
                {"id": CUSTOMER_ID},
            )
            conn.execute(
                text(
                    "INSERT INTO staff_users (id, public_id, username, name, role, password_hash, created_at)"
                    " VALUES (:id, 'stf_old', 'olduser', 'Old Staff', 'teller', 'hash', 1)"
                ),
                {"id": STAFF_ID},
            )
    finally:
        engine.dispose()


def _snapshot(url: str) -> dict[str, object]:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            insp = inspect(conn)
            return {
                "revision": current_revision(conn),
                "versions": conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar_one(),
                # Reflected type objects do not compare equal: compare their DDL text.
                "customers": {c["name"]: str(c["type"]) for c in insp.get_columns("customers")},
                "staff_columns": {c["name"]: (str(c["type"]), c["nullable"]) for c in insp.get_columns("staff_users")},
                "customer": conn.exec_driver_sql("SELECT public_id, totp_secret, totp_key_id FROM customers").all(),
                "staff": conn.exec_driver_sql("SELECT username, failed_logins, locked_until FROM staff_users").all(),
                "tables": set(insp.get_table_names()),
                "outbox_indexes": {ix["name"] for ix in insp.get_indexes("outbox")},
                "deposit_indexes": {ix["name"]: ix["unique"] for ix in insp.get_indexes("deposit_accounts")},
                "transfer_columns": {
                    c["name"]: (str(c["type"]), c["nullable"]) for c in insp.get_columns("transfer_records")
                },
            }
    finally:
        engine.dispose()


def _snapshot_revision(url: str) -> str | None:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return current_revision(conn)
    finally:
        engine.dispose()


def test_old_database_is_upgraded_in_place(db_url: str) -> None:
    _make_old_database(db_url)
    create_schema(db_url)
    after = _snapshot(db_url)
    assert after["revision"] == head_revision()
    assert after["versions"] == 1
    customers = after["customers"]
    assert isinstance(customers, dict)
    assert "totp_key_id" in customers
    if db_url.startswith("postgresql"):
        assert customers["totp_secret"] == "VARCHAR(255)"
    staff_columns = after["staff_columns"]
    assert isinstance(staff_columns, dict)
    assert staff_columns["failed_logins"] == ("INTEGER", False)
    assert staff_columns["locked_until"] == ("BIGINT", False)
    # Rows survive; the new NOT NULL columns are filled with "no failed logins, not locked".
    assert [tuple(r) for r in after["customer"]] == [("cus_old", "JBSWY3DPEHPK3PXP", None)]  # type: ignore[attr-defined]
    assert [tuple(r) for r in after["staff"]] == [("olduser", 0, 0)]  # type: ignore[attr-defined]
    assert after["outbox_indexes"] == {"ix_outbox_undispatched", "ix_outbox_dispatched"}
    transfer_columns = after["transfer_columns"]
    assert isinstance(transfer_columns, dict)
    assert transfer_columns["status_at"] == ("BIGINT", True)
    deposit_indexes = after["deposit_indexes"]
    assert isinstance(deposit_indexes, dict)
    assert deposit_indexes["ux_deposit_accounts_open_currency"]  # unique

    create_schema(db_url)  # a second run is a no-op
    assert _snapshot(db_url) == after


def test_two_open_accounts_of_one_currency_stop_the_upgrade_with_their_names(db_url: str) -> None:
    """0006 will not choose which of two open USD accounts to close (either may hold money): it names them."""
    _make_old_database(db_url)
    engine = _engine(db_url)
    try:
        with engine.begin() as conn:
            for n in (1, 2):
                conn.execute(
                    text(
                        "INSERT INTO deposit_accounts (id, customer_id, currency, ledger, status, is_default,"
                        " opened_at) VALUES (:id, :customer, 'USD', 840, 'open', :no, :n)"
                    ),
                    {"id": n.to_bytes(16, "big"), "customer": CUSTOMER_ID, "no": False, "n": n},
                )
    finally:
        engine.dispose()
    with pytest.raises(RuntimeError, match=f"{CUSTOMER_ID.hex()}/USD"):
        create_schema(db_url)
    assert _snapshot_revision(db_url) is None  # nothing of the upgrade stayed: it is one transaction


def test_fresh_database_is_created_and_stamped_at_head(db_url: str) -> None:
    create_schema(db_url)
    first = _snapshot(db_url)
    assert first["revision"] == head_revision()
    assert first["versions"] == 1
    assert {"ledger_accounts", "customers", "staff_users", "transfer_records"} <= first["tables"]  # type: ignore[operator]
    create_schema(db_url)
    assert _snapshot(db_url) == first


def test_ledger_only_database_gets_the_missing_tables(db_url: str) -> None:
    """A database with some PocketBank tables but no alembic_version: stamped, upgraded, then completed."""
    create_schema(db_url)
    engine = _engine(db_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")
            for table in ("spent_refresh_tokens", "sessions", "devices", "step_up_challenges", "customers"):
                conn.exec_driver_sql(f"DROP TABLE {table}")
    finally:
        engine.dispose()
    create_schema(db_url)
    after = _snapshot(db_url)
    assert after["revision"] == head_revision()
    assert "totp_key_id" in after["customers"]  # type: ignore[operator]


def test_workers_starting_together_create_the_schema_once(db_url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def worker() -> None:
        start.wait()  # all at once, like uvicorn workers booting together
        try:
            create_schema(db_url)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    snapshot = _snapshot(db_url)
    assert snapshot["revision"] == head_revision()
    assert snapshot["versions"] == 1
