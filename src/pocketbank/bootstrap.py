"""Composition root: the one place that decides which adapters back which ports.

``build_container(settings)`` opens the database named by the URL (ledger store and application tables), picks the
system clock and id generator, and wires the services; with ``POCKETBANK_NATS_URL`` set, also the outbox relay to NATS
JetStream. Tests build their own containers with a ``ManualClock`` and a temporary database.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TypedDict

from sqlalchemy import Engine

from pocketbank.config import Settings
from pocketbank.domain.clock import Clock
from pocketbank.domain.money import AssetRegistry, default_registry
from pocketbank.integrations.clock import SystemClock
from pocketbank.integrations.ids import SecureIdGenerator
from pocketbank.integrations.nats_events import NatsJetStreamPublisher
from pocketbank.integrations.passwords import Argon2Hasher
from pocketbank.integrations.ratelimit import MemoryRateLimiter, RedisRateLimiter
from pocketbank.integrations.rules import load_common_passwords, load_fee_schedule, load_limit_policy
from pocketbank.integrations.secretbox import build_secret_box
from pocketbank.integrations.sms import LoggingSmsSender, MemorySmsSender
from pocketbank.observability.logging import configure_logging
from pocketbank.services.accounts import AccountService
from pocketbank.services.auth import AuthService
from pocketbank.services.auth_common import AuthDeps
from pocketbank.services.auth_ports import AccountOpener, RateLimiter, SmsSender
from pocketbank.services.customers import CustomerService
from pocketbank.services.housekeeping import DAY_NS, HOUR_NS, Housekeeping, RetentionPolicy
from pocketbank.services.ledger import LedgerService
from pocketbank.services.outbox_relay import OutboxRelay
from pocketbank.services.payees import PayeeService
from pocketbank.services.ports import AuditLog, EventBus, IdempotencyStore, IdGenerator, Outbox
from pocketbank.services.staff import StaffService
from pocketbank.services.statements import StatementService
from pocketbank.services.transfers import TransferService
from pocketbank.services.unit import UnitDeps
from pocketbank.storage.app_db import SqlUnitOfWork, make_engine, request_connection
from pocketbank.storage.audit import SqlAuditLog
from pocketbank.storage.auth import SqlAuthStore
from pocketbank.storage.customers import SqlCustomerStore
from pocketbank.storage.data_keys import local_data_key
from pocketbank.storage.engine import open_ledger_store
from pocketbank.storage.idempotency import SqlIdempotencyStore
from pocketbank.storage.money import SqlDepositAccountStore, SqlPayeeStore, SqlTransferRecordStore
from pocketbank.storage.outbox import SqlOutbox
from pocketbank.storage.staff import SqlStaffStore
from pocketbank.storage.transfer_facts import SqlTransferFacts


@dataclass
class Container:
    settings: Settings
    clock: Clock
    ids: IdGenerator
    engine: Engine
    uow: SqlUnitOfWork
    audit: AuditLog
    outbox: Outbox
    idempotency: IdempotencyStore
    bus: EventBus
    ledger: LedgerService
    assets: AssetRegistry
    accounts: AccountService
    payees: PayeeService
    transfers: TransferService
    statements: StatementService
    auth: AuthService  # also the Authenticator and StepUpVerifier
    customers: CustomerService
    staff: StaffService
    sms: SmsSender
    rate_limiter: RateLimiter
    housekeeping: Housekeeping
    relay: OutboxRelay | None = None  # publishes the outbox to NATS JetStream when POCKETBANK_NATS_URL is set

    def request_scope(self) -> AbstractContextManager[None]:
        """Around one request's blocking work on one thread: its reads and units of work share a connection."""
        return request_connection(self.engine)

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.relay is not None:
            self.relay.close()
        self.transfers.close()  # its writers send their last chains to the ledger: before the ledger closes
        self.ledger.close()
        self.engine.dispose()


def build_container(
    settings: Settings | None = None, *, clock: Clock | None = None, ids: IdGenerator | None = None
) -> Container:
    settings = settings or Settings()
    configure_logging(settings.log_level, json=settings.log_json)
    clock = clock or SystemClock()
    # Also creates every table on first use.
    store = open_ledger_store(settings.database_url, pool_size=settings.ledger_pool_size)
    engine = make_engine(settings.database_url)
    ids = ids or SecureIdGenerator()
    bus = EventBus()
    uow, audit, outbox = SqlUnitOfWork(engine), SqlAuditLog(engine), SqlOutbox(engine)
    deps = UnitDeps(uow, audit, outbox, bus, clock, ids)
    ledger = LedgerService(store, clock, group_commit_writers=settings.group_commit_writers)
    assets = default_registry()
    idempotency = SqlIdempotencyStore(engine)
    accounts = AccountService(deps, SqlDepositAccountStore(engine), ledger, assets, idempotency)
    accounts.ensure_bank_accounts()
    auth_parts = _auth_parts(settings, deps, engine, accounts)
    payees = PayeeService(deps, SqlPayeeStore(engine), accounts)
    records = SqlTransferRecordStore(engine)
    retention = RetentionPolicy(
        idempotency_ns=settings.idempotency_retention_hours * HOUR_NS, outbox_ns=settings.outbox_retention_days * DAY_NS
    )
    transfers = TransferService(
        deps=deps,
        records=records,
        facts=SqlTransferFacts(engine),
        ledger=ledger,
        assets=assets,
        fees=load_fee_schedule(),
        limits=load_limit_policy(),
        step_up=auth_parts["auth"],
        replies=idempotency,
        batch_writers=settings.transfer_batch_writers,
    )
    return Container(
        settings=settings,
        clock=clock,
        ids=ids,
        engine=engine,
        uow=uow,
        audit=audit,
        outbox=outbox,
        idempotency=idempotency,
        bus=bus,
        ledger=ledger,
        assets=assets,
        accounts=accounts,
        payees=payees,
        transfers=transfers,
        statements=StatementService(accounts, ledger, records),
        housekeeping=Housekeeping(idempotency, outbox, clock, retention),
        relay=_relay(settings, outbox, clock),
        **auth_parts,
    )


def _relay(settings: Settings, outbox: SqlOutbox, clock: Clock) -> OutboxRelay | None:
    if not settings.nats_url:
        return None
    publisher = NatsJetStreamPublisher(settings.nats_url, max_age_seconds=settings.event_stream_max_age_days * 86_400)
    return OutboxRelay(outbox, publisher, clock)


class AuthParts(TypedDict):
    auth: AuthService
    customers: CustomerService
    staff: StaffService
    sms: SmsSender
    rate_limiter: RateLimiter


def _auth_parts(settings: Settings, unit: UnitDeps, engine: Engine, opener: AccountOpener) -> AuthParts:
    """Customers & auth; ``opener`` opens the CNY account at registration (the accounts service).

    They share the money side's audit log, outbox, bus, clock and ids (``unit``): one audit log per process, so its
    cache of stream heads (``storage.audit``) sees every append, whichever service made it."""
    sms: SmsSender = MemorySmsSender() if settings.sms_sender == "memory" else LoggingSmsSender()
    limiter: RateLimiter = RedisRateLimiter(settings.redis_url) if settings.redis_url else MemoryRateLimiter()
    deps = AuthDeps(
        uow=SqlUnitOfWork(engine),  # holds no state; the auth port also asks it for read-only connections
        audit=unit.audit,
        outbox=unit.outbox,
        bus=unit.bus,
        clock=unit.clock,
        ids=unit.ids,
        customers=SqlCustomerStore(engine),
        store=SqlAuthStore(engine),
        staff=SqlStaffStore(),
        sms=sms,
        limiter=limiter,
        hasher=Argon2Hasher(settings.password_hash_profile),
        box=build_secret_box(
            settings.data_keys.get_secret_value() if settings.data_keys else None,
            lambda create: local_data_key(engine, create),
        ),
        common_passwords=load_common_passwords(),
    )
    return AuthParts(
        auth=AuthService(deps),
        customers=CustomerService(deps, opener),
        staff=StaffService(deps),
        sms=sms,
        rate_limiter=limiter,
    )
