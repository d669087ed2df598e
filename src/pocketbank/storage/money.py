"""SQL stores of the money parts: deposit accounts, payees, transfer records."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, bindparam, func, insert, select, update

from pocketbank.domain.accounts import AccountStatus, DepositAccount
from pocketbank.domain.ledger import Transfer
from pocketbank.domain.payees import Payee
from pocketbank.domain.transfers import ChainLeg, StatusChange, TransferRecord, TransferStatus
from pocketbank.storage import bulk, pg_arrays
from pocketbank.storage.app_db import insert_if_absent, read_connection
from pocketbank.storage.fast_sql import FastStatement
from pocketbank.storage.money_tables import deposit_accounts as da
from pocketbank.storage.money_tables import payees as pt
from pocketbank.storage.money_tables import transfer_records as tr

# The statements of the transfer hot path, built once and run through the driver (see ``storage.fast_sql``).
_ACCOUNT_BY_ID = FastStatement(select(da).where(da.c.id == bindparam("id")))
_PAYEE_OF = FastStatement(
    select(pt).where((pt.c.id == bindparam("id")) & (pt.c.customer_id == bindparam("customer_id")))
)
_RECORD_BY_ID = FastStatement(select(tr).where(tr.c.id == bindparam("id")))
_RECORD_STATUS = FastStatement(
    update(tr)
    .where((tr.c.id == bindparam("record_id")) & (tr.c.status == bindparam("expected")))
    .values(status=bindparam("new_status"), reason=bindparam("new_reason"), status_at=bindparam("at"))
)

_RECORD_COLUMNS = tuple(c.key for c in tr.columns if c.key != "status_at")  # null until the status first changes
_INSERT_RECORDS = bulk.insert_sql(tr, _RECORD_COLUMNS, skip_conflicts=True)
_SET_STATUSES = (
    "UPDATE transfer_records r SET status = v.status, reason = v.reason, status_at = %s "
    "FROM unnest(%s::BYTEA[], %s::VARCHAR(16)[], %s::VARCHAR(16)[], %s::TEXT[]) AS v(id, status, expected, reason) "
    "WHERE r.id = v.id AND r.status = v.expected RETURNING r.id"
)


def _record_row(t: TransferRecord) -> dict[str, Any]:
    return {
        "id": t.id,
        "customer_id": t.customer_id,
        "from_account": t.from_account,
        "to_account": t.to_account,
        "amount": t.amount,
        "currency": t.currency,
        "fee": t.fee,
        "fee_rule": t.fee_rule,
        "channel": t.channel,
        "auth_method": t.auth_method,
        "arrival": t.arrival,
        "status": t.status.value,
        "created_at": t.created_at,
        "scheduled_for": t.scheduled_for,
        "payee_id": t.payee_id,
        "memo": t.memo,
        "reason": t.reason,
        "legs": legs_to_json(t.legs),
    }


# Every field a client sets: a resumed chain must be the chain the ledger saw, field for field, or the ledger answers
# ``exists_with_different_*`` for a leg it applied. The first eight are all that rows written before 2026-11-28 hold.
_LEG_FIELDS = (
    "id", "debit_account_id", "credit_account_id", "amount", "ledger", "code", "flags", "pending_id",
    "timeout", "user_data_128", "user_data_64", "user_data_32",
)  # fmt: skip
_OLD_LEG_FIELDS = 8


def legs_to_json(legs: Sequence[ChainLeg]) -> str:
    # Ids are 128-bit: JSON numbers would lose them in most parsers, so they travel as strings.
    return json.dumps([[leg.role, *(str(getattr(leg.transfer, f)) for f in _LEG_FIELDS)] for leg in legs])


def legs_from_json(text: str, transfer_id: int) -> tuple[ChainLeg, ...]:
    """The recorded chain. An older row lacks the last four fields: its legs were sent with the transfer's id in
    ``user_data_128`` (``domain.transfers.payment_chain``) and zero in the others, so they are read back that way."""
    legs = []
    for row in json.loads(text):
        values = {f: int(v) for f, v in zip(_LEG_FIELDS, row[1:], strict=False)}
        if len(row) - 1 == _OLD_LEG_FIELDS:
            values["user_data_128"] = transfer_id
        legs.append(ChainLeg(row[0], Transfer(**values)))
    return tuple(legs)


def account_of(r: Any) -> DepositAccount:
    return DepositAccount(
        id=r.id,
        customer_id=r.customer_id,
        currency=r.currency,
        ledger=r.ledger,
        status=AccountStatus(r.status),
        opened_at=r.opened_at,
        closed_at=r.closed_at,
        is_default=r.is_default,
    )


class SqlDepositAccountStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def insert(self, tx: Connection, a: DepositAccount) -> bool:
        """False, inserting nothing, when the customer already has an open account in that currency."""
        values = {
            "id": a.id,
            "customer_id": a.customer_id,
            "currency": a.currency,
            "ledger": a.ledger,
            "status": a.status.value,
            "is_default": a.is_default,
            "opened_at": a.opened_at,
            "closed_at": a.closed_at,
        }
        # ON CONFLICT without a target: the one-open-account-per-currency index answers too, without an error that
        # would abort the transaction.
        return insert_if_absent(tx, da, values)

    def get(self, account_id: int) -> DepositAccount | None:
        with read_connection(self.engine) as conn:
            r = _ACCOUNT_BY_ID.first(conn, {"id": account_id})
        return account_of(r) if r else None

    def list_for_customer(self, customer_id: int) -> list[DepositAccount]:
        q = select(da).where(da.c.customer_id == customer_id).order_by(da.c.opened_at, da.c.id)
        with read_connection(self.engine) as conn:
            return [account_of(r) for r in conn.execute(q)]

    def set_status(self, tx: Connection, account_id: int, status: AccountStatus, at: int | None) -> None:
        tx.execute(update(da).where(da.c.id == account_id).values(status=status.value, closed_at=at))


def payee_of(r: Any) -> Payee:
    return Payee(r.id, r.customer_id, r.name, r.account_id, r.currency, r.added_at, r.removed_at)


class SqlPayeeStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def insert(self, tx: Connection, p: Payee) -> None:
        tx.execute(
            insert(pt).values(
                id=p.id,
                customer_id=p.customer_id,
                name=p.name,
                account_id=p.account_id,
                currency=p.currency,
                added_at=p.added_at,
            )
        )

    def get(self, customer_id: int, payee_id: int) -> Payee | None:
        with read_connection(self.engine) as conn:
            r = _PAYEE_OF.first(conn, {"id": payee_id, "customer_id": customer_id})
        return payee_of(r) if r else None

    def list_for_customer(self, customer_id: int) -> list[Payee]:
        q = (
            select(pt)
            .where((pt.c.customer_id == customer_id) & pt.c.removed_at.is_(None))
            .order_by(pt.c.added_at, pt.c.id)
        )
        with read_connection(self.engine) as conn:
            return [payee_of(r) for r in conn.execute(q)]

    def remove(self, tx: Connection, payee_id: int, at: int) -> None:
        tx.execute(update(pt).where(pt.c.id == payee_id).values(removed_at=at))


def record_of(r: Any) -> TransferRecord:
    return TransferRecord(
        id=r.id,
        customer_id=r.customer_id,
        from_account=r.from_account,
        to_account=r.to_account,
        amount=r.amount,
        currency=r.currency,
        fee=r.fee,
        fee_rule=r.fee_rule,
        channel=r.channel,
        auth_method=r.auth_method,
        arrival=r.arrival,
        status=TransferStatus(r.status),
        created_at=r.created_at,
        scheduled_for=r.scheduled_for,
        payee_id=r.payee_id,
        memo=r.memo,
        reason=r.reason,
        legs=legs_from_json(r.legs, r.id),
    )


class SqlTransferRecordStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def insert(self, tx: Connection, t: TransferRecord) -> bool:
        """Insert once; False when a retry finds the record already there (the first attempt's)."""
        return insert_if_absent(tx, tr, _record_row(t))

    def insert_many(self, tx: Connection, records: Sequence[TransferRecord]) -> None:
        """``insert`` each record, in one statement on PostgreSQL (one already there is left as it is)."""
        if tx.dialect.name != "postgresql" or len(records) < 2:  # one row: the prepared single-row statement
            for t in records:
                self.insert(tx, t)
            return
        rows = [_record_row(t) for t in records]
        bulk.execute(tx, _INSERT_RECORDS, bulk.arrays(tr, _RECORD_COLUMNS, rows))

    def set_status_many(self, tx: Connection, changes: Sequence[StatusChange], *, at: int) -> set[int]:
        """``set_status`` for each change, in one statement on PostgreSQL: the ids of the records that moved."""
        if tx.dialect.name != "postgresql" or len(changes) < 2:  # one row: the prepared single-row statement
            return {
                c.transfer_id
                for c in changes
                if self.set_status(tx, c.transfer_id, c.status, c.expected, c.reason, at=at)
            }
        columns = [
            pg_arrays.ids([c.transfer_id for c in changes]),
            pg_arrays.texts([c.status.value for c in changes]),
            pg_arrays.texts([c.expected.value for c in changes]),
            pg_arrays.texts([c.reason for c in changes]),
        ]
        return bulk.ids_of(bulk.execute(tx, _SET_STATUSES, [at, *columns]))

    def get(self, transfer_id: int) -> TransferRecord | None:
        with read_connection(self.engine) as conn:
            r = _RECORD_BY_ID.first(conn, {"id": transfer_id})
        return record_of(r) if r else None

    def get_many(self, ids: Sequence[int]) -> dict[int, TransferRecord]:
        if not ids:
            return {}
        with read_connection(self.engine) as conn:
            rows = conn.execute(select(tr).where(tr.c.id.in_(list(ids))))
            return {r.id: record_of(r) for r in rows}

    def set_status(
        self,
        tx: Connection,
        transfer_id: int,
        status: TransferStatus,
        expected: TransferStatus,
        reason: str = "",
        *,
        at: int,
    ) -> bool:
        """Move from ``expected`` to ``status`` at ``at`` (ns); False if another request moved it first."""
        params = {
            "record_id": transfer_id,
            "expected": expected.value,
            "new_status": status.value,
            "new_reason": reason,
            "at": at,
        }
        return _RECORD_STATUS.run(tx, params) == 1

    def stalled(self, before: int, limit: int = 100) -> list[TransferRecord]:
        # The (status, scheduled_for) index's prefix finds the few processing and reversing records without reading
        # the others. A record is processing from its creation, and reversing from its last change of status.
        processing = (tr.c.status == TransferStatus.PROCESSING.value) & (tr.c.created_at <= before)
        reversing = (tr.c.status == TransferStatus.REVERSING.value) & (tr.c.status_at <= before)
        return self._oldest(processing | reversing, func.coalesce(tr.c.status_at, tr.c.created_at), limit)

    def due(self, now: int, limit: int = 500) -> list[TransferRecord]:
        due = (tr.c.status == TransferStatus.SCHEDULED.value) & (tr.c.scheduled_for <= now)
        return self._oldest(due, tr.c.scheduled_for, limit)

    def _oldest(self, where: ColumnElement[bool], by: ColumnElement[Any], limit: int) -> list[TransferRecord]:
        with read_connection(self.engine) as conn:
            return [record_of(r) for r in conn.execute(select(tr).where(where).order_by(by).limit(limit))]
