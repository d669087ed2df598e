"""In-process setup for ``bench/api.py``: customers with money, payees, step-up challenges and fresh sessions.

It runs through the services (as ``cli/seed.py`` does) on the database the server will then open, before the server
starts. SMS codes are read from the in-memory sender, which only this process can see. The setup makes hundreds of
codes and challenges per minute for the same customers, far past the per-phone and per-customer rate limits meant
for people: those limits belong to the server, so the setup container gets a limiter that counts nothing. The server
keeps its own limiters (one per worker): each customer gets at most ``per_customer`` transfers, under the 30 step-up
checks per customer and hour that a worker allows.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import func, select
from stdnum.cn import ric

from pocketbank.bootstrap import Container, build_container
from pocketbank.config import Settings
from pocketbank.domain.accounts import derive_id
from pocketbank.domain.channels import AuthMethod, Channel
from pocketbank.domain.customers import IdKind as DocumentKind
from pocketbank.domain.ids import IdKind, format_id, parse_id
from pocketbank.domain.principals import Principal, StaffRole
from pocketbank.domain.stepup import binding_digest
from pocketbank.integrations.sms import MemorySmsSender
from pocketbank.storage.money_tables import transfer_records

PASSWORD = "plum tree lantern 42"
STAFF_PASSWORD = "counter bench passphrase"
DEPOSIT = 1_000 * 100  # 1,000.00 CNY each: far more than the at most 30 transfers of at most 1.00 CNY a customer makes


class NoLimits:
    """A ``RateLimiter`` that refuses nothing (setup only: see the module docstring)."""

    def hit(self, key: str, *, limit: int, window_seconds: int, now_ns: int) -> int:
        return 0


@dataclass
class Customer:
    index: int
    phone: str  # E.164
    principal: Principal
    account: str  # acc_…
    device: str  # dev_…
    payee: str = ""  # pay_…: the next customer's account
    token: str = ""  # a fresh access token, made last
    bodies: list[bytes] = field(default_factory=list)  # POST /v1/transfers bodies, each with its own challenge


def open_container(url: str, *, limits: bool = True) -> Container:
    settings = Settings(
        database_url=url,
        sms_sender="memory",
        password_hash_profile="fast",
        redis_url=None,
        log_level="WARNING",
    )
    container = build_container(settings)
    if not limits:
        container.auth.d.limiter = NoLimits()  # one AuthDeps backs auth, customers and staff
    return container


def id_number(n: int) -> str:
    """A valid PRC resident id number, different for each ``n`` below 40,000 (birth year 1950 + n // 1000)."""
    body = f"110105{1950 + n // 1000}0101{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def parallel(threads: int, items: Sequence[Customer], work: Callable[[Customer], None]) -> None:
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in pool.map(work, items):
            pass


class Setup:
    def __init__(self, container: Container, threads: int, log: Callable[[str], None]) -> None:
        self.c = container
        self.threads = threads
        self.log = log
        sms = container.sms
        assert isinstance(sms, MemorySmsSender)
        self.sms = sms
        self._teller: Principal | None = None

    def teller(self) -> Principal:
        if self._teller is None:
            self.c.staff.create_staff_user("bench-teller", "Zhao Min", StaffRole.TELLER, STAFF_PASSWORD)
            tokens = self.c.staff.login("bench-teller", STAFF_PASSWORD, "bench")
            self._teller = self.c.auth.authenticate(tokens.access_token, self.c.clock.now_ns())
        return self._teller

    def register(self, n: int) -> Customer:
        c = self.c
        started = c.customers.start_registration(f"139{n:08d}", Channel.MOBILE, "bench")
        reg = c.customers.register(
            phone=started.phone,
            code=self.sms.last_code(started.phone),
            password=PASSWORD,
            name="Wang Fang",
            id_kind=DocumentKind.PRC_RESIDENT_ID,
            id_number=id_number(n),
            device_label="bench phone",
            channel=Channel.MOBILE,
            client_key="bench",
        )
        principal = c.auth.authenticate(reg.session.access_token, c.clock.now_ns())
        account = reg.account_id or ""
        # All deposits go to one teller's audit stream, concurrently: appends to a stream queue on its lock.
        c.accounts.deposit_cash(
            self.teller(), parse_id(IdKind.ACCOUNT, account), DEPOSIT, derive_id("bench", started.phone)
        )
        return Customer(n, started.phone, principal, account, reg.session.device_id or "")

    def customers(self, count: int) -> list[Customer]:
        self.teller()
        out: list[Customer | None] = [None] * count

        def one(n: int) -> None:
            out[n] = self.register(n)

        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            for _ in pool.map(one, range(count)):
                pass
        people = [p for p in out if p is not None]

        def add_payee(p: Customer) -> None:
            other = people[(p.index + 1) % count]
            payee = self.c.payees.add(p.principal, "Li Lei", parse_id(IdKind.ACCOUNT, other.account))
            p.payee = format_id(IdKind.PAYEE, payee.id)

        parallel(self.threads, people, add_payee)
        return people

    def challenges(self, people: list[Customer], per_customer: int, budget_seconds: float) -> int:
        """Up to ``per_customer`` SMS step-up challenges each, bound to 1..100 fen and the customer's payee.

        Made in rounds (one more challenge for every customer per round) and stopped after ``budget_seconds``: a
        challenge lives 5 minutes, and the run must begin well within that. Returns how many rounds were made.
        """

        def make(p: Customer) -> None:
            j = len(p.bodies)
            amount = 1 + (p.index * 7 + j) % 100
            binding = binding_digest(p.principal.public_id, amount, "CNY", p.payee)
            challenge = self.c.auth.create_challenge(p.principal, AuthMethod.SMS, binding, self.c.clock.now_ns())
            body = {
                "from_account": p.account,
                "payee_id": p.payee,
                "amount": amount,
                "currency": "CNY",
                "memo": "bench",
                "step_up": {"challenge_id": challenge.id, "code": self.sms.last_code(p.phone)},
            }
            p.bodies.append(json.dumps(body, separators=(",", ":")).encode())

        deadline = time.monotonic() + budget_seconds
        for j in range(per_customer):
            if time.monotonic() > deadline:
                self.log(f"setup: challenge budget of {budget_seconds:.0f} s used up after {j} per customer")
                return j
            parallel(self.threads, people, make)
        return per_customer

    def sessions(self, people: list[Customer]) -> None:
        """A fresh session for each customer on its trusted device (the sign-up session may be near its idle end)."""

        def login(p: Customer) -> None:
            result = self.c.auth.login(p.phone, PASSWORD, p.device, "bench phone", Channel.MOBILE, f"bench-{p.index}")
            assert result.session is not None, "the sign-up device should be trusted"
            p.token = result.session.access_token

        parallel(self.threads, people, login)


def prepare(
    url: str,
    *,
    customers: int,
    per_customer: int,
    threads: int,
    log: Callable[[str], None],
    challenge_budget: float = 150.0,
) -> list[Customer]:
    """Customers, payees, challenges and sessions on ``url``; the container is closed before returning."""
    container = open_container(url, limits=False)
    try:
        s = Setup(container, threads, log)
        t0 = time.perf_counter()
        people = s.customers(customers)
        t1 = time.perf_counter()
        log(f"setup: {customers} customers registered, funded, with payees in {t1 - t0:.1f} s")
        rounds = s.challenges(people, per_customer, challenge_budget)
        t2 = time.perf_counter()
        log(f"setup: {customers * rounds} SMS step-up challenges in {t2 - t1:.1f} s")
        s.sessions(people)
        log(f"setup: {customers} fresh sessions in {time.perf_counter() - t2:.1f} s")
        return people
    finally:
        container.close()


def idempotency_key() -> str:
    return uuid.uuid4().hex


def check(url: str, *, verify: bool = True) -> tuple[bool, int]:
    """The ledger's ``verify().ok`` (True when not asked for) and how many transfer records there are."""
    container = open_container(url)
    try:
        ok = container.ledger.verify().ok if verify else True
        with container.engine.connect() as conn:
            records = conn.execute(select(func.count()).select_from(transfer_records)).scalar_one()
        return ok, int(records)
    finally:
        container.close()
