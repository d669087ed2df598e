"""Seed a demo bank: staff, three customers with money, payees, and three months of history.

The seed runs through the same services as the API (registration with an SMS code, step-up proofs bound to each
payment, counter deposits), on a clock set three months back and moved forward day by day, so the history it
leaves is exactly what real use would leave: ledger chains, records, audit trail and events.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from pocketbank.bootstrap import Container, build_container
from pocketbank.config import Settings
from pocketbank.domain.accounts import derive_id
from pocketbank.domain.channels import AuthMethod, Channel
from pocketbank.domain.clock import NS_PER_SECOND, ManualClock
from pocketbank.domain.customers import IdKind as IdKind_
from pocketbank.domain.ids import IdKind, parse_id
from pocketbank.domain.principals import Principal, PrincipalKind, StaffRole
from pocketbank.domain.stepup import binding_digest
from pocketbank.errors import PocketBankError
from pocketbank.integrations.sms import MemorySmsSender
from pocketbank.services.transfers import StepUpProof, TransferDraft

DAY = 24 * 3600 * NS_PER_SECOND
DEMO_PASSWORD = "demo passphrase 2026"  # noqa: S105 - a published demo login, not a secret
STAFF_PASSWORD = "counter demo passphrase"  # noqa: S105


@dataclass(frozen=True, slots=True)
class DemoLogin:
    who: str
    login: str
    password: str
    detail: str


CUSTOMERS = [
    ("Li Lei", "13800000001", "11010519491231002X"),
    ("Han Meimei", "13800000002", "110105198001010016"),
    ("Wang Fang", "13800000003", "44030419900307123X"),
]


def seed_demo(db_path: Path, *, now_ns: int, days: int = 90, seed: int = 7) -> list[DemoLogin]:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    clock = ManualClock(now_ns - days * DAY)
    settings = Settings(database_url=f"sqlite:///{db_path}", sms_sender="memory", group_commit_writers=0)
    c = build_container(settings, clock=clock)
    try:
        return _seed(c, clock, now_ns, days, random.Random(seed))
    finally:
        c.close()


def _seed(c: Container, clock: ManualClock, now_ns: int, days: int, rng: random.Random) -> list[DemoLogin]:
    c.staff.create_staff_user("teller", "Zhao Min", StaffRole.TELLER, STAFF_PASSWORD)
    c.staff.create_staff_user("supervisor", "Qian Hua", StaffRole.SUPERVISOR, STAFF_PASSWORD)
    teller = c.auth.authenticate(c.staff.login("teller", STAFF_PASSWORD, "seed").access_token, clock.now_ns())
    sms = c.sms
    assert isinstance(sms, MemorySmsSender)
    people: list[tuple[Principal, int, str]] = []
    for name, phone, id_number in CUSTOMERS:
        started = c.customers.start_registration(phone, Channel.MOBILE, "seed")
        reg = c.customers.register(
            phone=phone,
            code=sms.last_code(started.phone),
            password=DEMO_PASSWORD,
            name=name,
            id_kind=IdKind_.PRC_RESIDENT_ID,
            id_number=id_number,
            device_label="demo phone",
            channel=Channel.MOBILE,
            client_key="seed",
        )
        principal = c.auth.authenticate(reg.session.access_token, clock.now_ns())
        # The seed keeps acting as this customer on later days, long after the session's idle timeout.
        principal = Principal(
            PrincipalKind.CUSTOMER, principal.id, principal.public_id, 0, Channel.MOBILE, AuthMethod.PASSWORD,
            principal.device_id,
        )  # fmt: skip
        account = parse_id(IdKind.ACCOUNT, reg.account_id or "")
        c.accounts.deposit_cash(teller, account, rng.randrange(20_000, 80_000) * 100, derive_id("seed", phone))
        people.append((principal, account, started.phone))
    payees = {
        (i, j): c.payees.add(p, CUSTOMERS[j][0], people[j][1])
        for i, (p, _, _) in enumerate(people)
        for j in range(len(people))
        if i != j
    }
    for day in range(days):
        clock.set(now_ns - (days - day) * DAY + rng.randrange(8, 20) * 3600 * NS_PER_SECOND)
        for _ in range(rng.randrange(0, 3)):
            i, j = rng.sample(range(len(people)), 2)
            payer, account, phone = people[i]
            amount = rng.randrange(10, 2_000) * 100
            payee = payees[(i, j)]
            try:
                if rng.random() < 0.75:  # most of the bank's transactions happen on the phone
                    draft = TransferDraft(account, amount, "CNY", payee_id=payee.id, memo=rng.choice(MEMOS))
                    binding = binding_digest(payer.public_id, amount, "CNY", draft.destination_ref)
                    challenge = c.auth.create_challenge(payer, AuthMethod.SMS, binding, clock.now_ns())
                    proof = StepUpProof(challenge.id, sms.last_code(phone))
                    c.transfers.create(payer, draft, f"seed-{day}-{i}-{j}-{amount}", proof)
                else:
                    draft = TransferDraft(account, amount, "CNY", to_account=people[j][1], memo="at the branch")
                    c.transfers.create_at_counter(teller, payer.id, draft, f"seed-counter-{day}-{i}-{j}")
            except PocketBankError:
                pass  # a limit or the balance refused it, as it would have refused the customer
            clock.advance(rng.randrange(60, 3600))
    clock.set(now_ns)
    logins = [DemoLogin(name, phone, DEMO_PASSWORD, "customer, class II") for name, phone, _ in CUSTOMERS]
    logins.append(DemoLogin("Zhao Min", "teller", STAFF_PASSWORD, "staff: teller"))
    logins.append(DemoLogin("Qian Hua", "supervisor", STAFF_PASSWORD, "staff: supervisor"))
    return logins


MEMOS = ["dinner", "rent share", "birthday gift", "coffee", "taxi", "groceries", "", "books"]
