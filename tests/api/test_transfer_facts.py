"""``SqlTransferFacts``: the one read a transfer makes before it is made, on both engines. What it returns is what
each store returns for the same thing, read on its own; what is not there, or is someone else's, reads as nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from auth_helpers import SignedUp
from fastapi.testclient import TestClient
from money_helpers import add_payee, deposit, new_key, relax_rate_limits, step_up, transfer, yuan
from sqlalchemy import select

from pocketbank.bootstrap import Container
from pocketbank.domain.channels import AuthMethod
from pocketbank.domain.customers import AccountClass
from pocketbank.domain.ids import IdKind, parse_id
from pocketbank.domain.stepup import binding_digest
from pocketbank.domain.transfers import transfer_id_for
from pocketbank.errors import StepUpFailed
from pocketbank.services.ports import StepUpPass
from pocketbank.services.transfer_ports import FactsQuery, Standing
from pocketbank.storage.auth import SqlAuthStore
from pocketbank.storage.customers_tables import devices
from pocketbank.storage.transfer_facts import UNKNOWN_DEVICE

NOWHERE = 2**100  # an id nothing has


def _id(kind: IdKind, public: str | None) -> int:
    assert public is not None
    return parse_id(kind, public, param="id")


def _trusted_at(container: Container, device: str) -> int:
    with container.engine.connect() as conn:
        value = conn.execute(select(devices.c.trusted_at).where(devices.c.id == _id(IdKind.DEVICE, device))).scalar()
    assert isinstance(value, int)
    return value


def test_a_transfer_reads_each_thing_as_its_own_store_would(
    client: TestClient, container: Container, signup: Callable[..., SignedUp], teller: dict[str, str]
) -> None:
    relax_rate_limits(container)
    a, b = signup(), signup()
    deposit(client, teller, a.account_id or "", yuan(1_000))
    payee_id = add_payee(client, a, b.account_id)
    key = new_key()
    assert transfer(client, container, a, yuan(3), payee_id=payee_id, key=key).status_code == 201
    proof = step_up(client, container, a, yuan(5), payee_id)

    customer, payee = _id(IdKind.CUSTOMER, a.id), _id(IdKind.PAYEE, payee_id)
    source, target = _id(IdKind.ACCOUNT, a.account_id), _id(IdKind.ACCOUNT, b.account_id)
    challenge, transfer_id = _id(IdKind.CHALLENGE, proof["challenge_id"]), transfer_id_for(customer, key)
    facts = container.transfers.facts.read(
        FactsQuery(customer, source, None, payee, transfer_id, challenge, _id(IdKind.DEVICE, a.device_id))
    )

    assert facts.earlier is not None and facts.earlier == container.transfers.records.get(transfer_id)
    assert facts.earlier.amount == yuan(3) and facts.earlier.legs  # the chain comes back, leg for leg
    assert facts.payee == container.payees.store.get(customer, payee)
    accounts = container.accounts.store
    assert facts.accounts == {source: accounts.get(source), target: accounts.get(target)}  # the payee's: the target
    with container.uow.read() as tx:
        assert facts.challenge == SqlAuthStore(container.engine).get_challenge(tx, challenge)
    assert facts.standing == Standing(AccountClass.II, _trusted_at(container, a.device_id))


def test_what_is_missing_or_someone_elses_reads_as_nothing(
    client: TestClient, container: Container, signup: Callable[..., SignedUp]
) -> None:
    a, b = signup(), signup()
    customer, source = _id(IdKind.CUSTOMER, a.id), _id(IdKind.ACCOUNT, a.account_id)
    bobs_payee = _id(IdKind.PAYEE, add_payee(client, b, a.account_id))
    target = _id(IdKind.ACCOUNT, b.account_id)
    read: Callable[..., Any] = lambda **q: container.transfers.facts.read(FactsQuery(customer, source, **q))  # noqa: E731

    nothing = read(transfer_id=NOWHERE, challenge_id=NOWHERE, device_id=NOWHERE, payee_id=NOWHERE)
    assert (nothing.earlier, nothing.payee, nothing.challenge) == (None, None, None)
    assert set(nothing.accounts) == {source}  # no payee, no account named: only the source
    assert nothing.standing == Standing(AccountClass.II, UNKNOWN_DEVICE)  # a device not found counts as brand new

    # Bob's payee is not Alice's: it is not read, nor is the account it names.
    assert read(payee_id=bobs_payee).payee is None
    assert set(read(payee_id=bobs_payee).accounts) == {source}
    # Bob's device is not Alice's: brand new for her. Without a device (the counter): the same.
    assert read(device_id=_id(IdKind.DEVICE, b.device_id)).standing.device_trusted_at == UNKNOWN_DEVICE
    assert read().standing.device_trusted_at == UNKNOWN_DEVICE
    # An account named directly is read, whoever owns it: the transfer's own checks decide (``_resolve``).
    assert set(read(to_account=target).accounts) == {source, target}
    # Someone else's challenge is read: the step-up check refuses it, with its attempt and audit record.
    proof = step_up(client, container, b, yuan(1), a.account_id or "")
    assert read(challenge_id=_id(IdKind.CHALLENGE, proof["challenge_id"])).challenge.customer_id != customer

    gone = container.transfers.facts.read(FactsQuery(NOWHERE, source))
    assert gone.standing is None  # no such customer


def test_a_step_up_pass_is_decided_only_on_the_challenge_the_proof_names(
    client: TestClient, container: Container, signup: Callable[..., SignedUp]
) -> None:
    """The transfer hands the step-up check the challenge it read with its facts. A pass is decided on it only when
    it is the challenge the proof names; any other record is ignored, and ``verify`` decides (and spends) instead."""
    a, b = signup(), signup()
    principal = container.auth.authenticate(a.access_token, container.clock.now_ns())
    binding = binding_digest(a.id, yuan(5), "CNY", b.account_id or "")
    store = SqlAuthStore(container.engine)

    def challenge(proof: dict[str, str]) -> Any:
        with container.uow.read() as tx:
            return store.get_challenge(tx, _id(IdKind.CHALLENGE, proof["challenge_id"]))

    now = container.clock.now_ns()
    first = step_up(client, container, a, yuan(5), b.account_id or "")
    read = challenge(first)
    passed = container.auth.check(principal, first["challenge_id"], first["code"], binding, now, read)
    assert isinstance(passed, StepUpPass) and passed.challenge_id == read.id
    assert challenge(first).used_at is None  # a pass spends nothing: the transfer's batch does

    second = step_up(client, container, a, yuan(5), b.account_id or "")
    # The first challenge's record, good for the first code, handed in for the second proof: it is not the one the
    # proof names, so it is ignored, and ``verify`` refuses the first code for the second challenge.
    with pytest.raises(StepUpFailed):
        container.auth.check(principal, second["challenge_id"], first["code"], binding, now, read)
    # And with the second code, ``verify`` decides (and spends) it under its lock: no pass.
    decided = container.auth.check(principal, second["challenge_id"], second["code"], binding, now, read)
    assert decided is AuthMethod.SMS
    assert challenge(second).used_at is not None
