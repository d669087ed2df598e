"""The API's shared machinery: problem+json errors, request ids, idempotency keys, audit chain, outbox."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from pocketbank.bootstrap import Container
from pocketbank.domain.audit import AuditRecord
from pocketbank.domain.events import DomainEvent
from pocketbank.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from pocketbank.services.ports import IdempotentResponse
from pocketbank.storage import audit as audit_storage
from pocketbank.storage.app_schema import audit_log
from pocketbank.storage.audit import SqlAuditLog


def test_health_and_request_id(client: TestClient) -> None:
    r = client.get("/v1/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert r.headers["x-request-id"].startswith("req_")


def test_unknown_route_is_problem_json(client: TestClient) -> None:
    r = client.get("/v1/nope")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "not_found"
    assert body["request_id"] == r.headers["x-request-id"]


def test_openapi_is_3_1(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")


def record(n: int, actor: str = "cus_A") -> AuditRecord:
    return AuditRecord("customer", actor, "test.done", f"tr_{n}", "mobile", "sms", at=1000 + n, detail={"n": n})


def test_audit_chain_detects_tampering(container: Container) -> None:
    for n in range(5):
        with container.uow.begin() as tx:
            container.audit.append(tx, record(n))
            container.audit.append(tx, record(n, actor="cus_B"))
    assert container.audit.verify() == []
    with container.engine.begin() as conn:
        conn.execute(
            update(audit_log)
            .where((audit_log.c.stream == "customer:cus_A") & (audit_log.c.seq == 3))
            .values(detail='{"n": 99}')
        )
    problems = container.audit.verify()
    assert problems == ["customer:cus_A#3: content does not match its hash"]
    assert container.audit.verify("customer:cus_B") == []


def test_concurrent_appends_to_one_stream_stay_one_chain(container: Container) -> None:
    # Eight threads append to the same stream at once, each in its own transaction that holds its insert open for a
    # moment, so appends really overlap: every record must get its own seq and link to the one before it.
    def append(worker: int) -> None:
        for n in range(10):
            with container.uow.begin() as tx:
                container.audit.append(tx, record(worker * 100 + n))
                time.sleep(0.001)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(append, range(8)))
    entries = list(container.audit.entries("customer:cus_A"))  # type: ignore[attr-defined]
    assert [e.seq for e in entries] == list(range(1, 81))
    assert sorted(e.record.detail["n"] for e in entries) == sorted(w * 100 + n for w in range(8) for n in range(10))
    assert container.audit.verify() == []


def test_audit_rolls_back_with_its_transaction(container: Container) -> None:
    with pytest.raises(RuntimeError), container.uow.begin() as tx:
        container.audit.append(tx, record(1))
        raise RuntimeError("the use case failed")
    assert list(container.audit.entries()) == []  # type: ignore[attr-defined]


def test_audit_head_cache_survives_rollbacks_and_other_writers(container: Container) -> None:
    """The append path trusts its cached stream head only as far as the database confirms it: a head written by a
    transaction that rolled back, or overtaken by another process's log, must never leave a gap or a fork."""
    other = SqlAuditLog(container.engine)  # a second worker's log: its own cache of stream heads
    with container.uow.begin() as tx:
        container.audit.append(tx, record(1))  # cached head: seq 1
    with pytest.raises(RuntimeError), container.uow.begin() as tx:
        container.audit.append(tx, record(2))  # cached head: seq 2, which never commits
        raise RuntimeError("rolled back")
    with container.uow.begin() as tx:
        container.audit.append(tx, record(3))  # stale cache: must land as seq 2
    with container.uow.begin() as tx:
        other.append(tx, record(4))  # the other worker has no head cached: reads seq 2, writes 3
    with container.uow.begin() as tx:
        container.audit.append(tx, record(5))  # this log's head (2) is behind: must land as 4, not fork at 3
        container.audit.append(tx, record(6))  # and the next in the same transaction as 5
    entries = list(container.audit.entries("customer:cus_A"))  # type: ignore[attr-defined]
    assert [(e.seq, e.record.detail["n"]) for e in entries] == [(1, 1), (2, 3), (3, 4), (4, 5), (5, 6)]
    assert container.audit.verify() == []


def test_audit_remembers_a_bounded_number_of_stream_heads(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The head cache forgets the least recently appended stream first; a forgotten stream is read again."""
    monkeypatch.setattr(audit_storage, "HEADS_REMEMBERED", 2)
    log = SqlAuditLog(container.engine)
    for n, actor in enumerate(["cus_A", "cus_B", "cus_A", "cus_C", "cus_B", "cus_A"]):
        with container.uow.begin() as tx:
            log.append(tx, record(n, actor=actor))
        assert len(log._heads) <= 2
    assert list(log._heads) == ["customer:cus_B", "customer:cus_A"]  # least recently appended first
    assert [e.seq for e in log.entries("customer:cus_A")] == [1, 2, 3]
    assert container.audit.verify() == []


def test_audit_appends_from_two_logs_at_once_keep_one_chain(container: Container) -> None:
    """Two workers' logs (two caches) appending to one stream concurrently: seqs 1..n, one intact chain."""
    logs = [container.audit, SqlAuditLog(container.engine)]

    def append(worker: int) -> None:
        for n in range(15):
            with container.uow.begin() as tx:
                logs[worker % 2].append(tx, record(worker * 100 + n))

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(append, range(6)))
    entries = list(container.audit.entries("customer:cus_A"))  # type: ignore[attr-defined]
    assert [e.seq for e in entries] == list(range(1, 91))
    assert container.audit.verify() == []


def test_outbox_round_trip(container: Container) -> None:
    event = DomainEvent("evt_1", "transfer.created", 5, "mobile", {"amount": 100})
    with container.uow.begin() as tx:
        container.outbox.add(tx, event)
    assert container.outbox.undispatched() == [event]
    container.outbox.mark_dispatched(["evt_1"], at=6)
    assert container.outbox.undispatched() == []


def test_idempotency_store_semantics(container: Container) -> None:
    store = container.idempotency
    assert store.claim("cus_A", "k1", "f1", now=0, lease_ns=100).replay is None
    with pytest.raises(IdempotencyKeyInUse):
        store.claim("cus_A", "k1", "f1", now=50, lease_ns=100)
    with pytest.raises(IdempotencyKeyReused):
        store.claim("cus_A", "k1", "f2", now=50, lease_ns=100)
    # The same key is independent for another principal.
    assert store.claim("cus_B", "k1", "f2", now=50, lease_ns=100).replay is None
    store.complete("cus_A", "k1", IdempotentResponse(201, '{"id":"tr_1"}'), now=60)
    assert store.claim("cus_A", "k1", "f1", now=70, lease_ns=100).replay == IdempotentResponse(201, '{"id":"tr_1"}')
    # An abandoned claim can be taken over once its lease has run out; a released one at once.
    assert store.claim("cus_A", "k2", "f1", now=0, lease_ns=100).replay is None
    assert store.claim("cus_A", "k2", "f1", now=101, lease_ns=100).replay is None
    store.release("cus_A", "k2")
    assert store.claim("cus_A", "k2", "f1", now=102, lease_ns=100).replay is None


def test_concurrent_appends_to_one_stream_keep_the_chain(container: Container) -> None:
    """Eight writers appending to one customer's stream at once: every record lands, seqs stay 1..n, chain intact."""
    import threading

    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for n in range(10):
                with container.uow.begin() as tx:
                    container.audit.append(tx, record(w * 100 + n))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    entries = list(container.audit.entries("customer:cus_A"))  # type: ignore[attr-defined]
    assert [e.seq for e in entries] == list(range(1, 81))
    assert container.audit.verify() == []
