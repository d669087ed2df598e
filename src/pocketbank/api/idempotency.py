"""``Idempotency-Key`` on money-moving POSTs (Stripe's semantics, the IETF draft's status codes).

The key is scoped to the caller. The first request claims it with a fingerprint of the method, path and body; its
response (success or business refusal) is stored and replayed to every retry with ``Idempotent-Replayed: true``.
A different body with the same key is 422; a retry while the first is still running is 409. If the first request
fails unexpectedly the claim is released, and a retry runs it again: safe, because the transfer's id is derived
from the key and its ledger chain is recorded with it, so the retry resubmits that chain and the ledger itself
answers ``exists`` rather than moving money twice.

An operation that can store its response in its own last unit of work does so with the ``Completion`` it is
handed (Stripe's "atomic phases"): the response is then stored exactly when the outcome commits. Otherwise, or when
it ends in a refusal, the response is stored here afterwards, in a transaction of its own; if the process dies in
between, the claim stays in progress until its lease runs out, and a retry then runs the request again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from pocketbank.api.errors import PROBLEM, STATUS, TYPE_BASE, request_id
from pocketbank.errors import IdempotencyKeyRequired, InvalidId, PocketBankError
from pocketbank.services.ports import IdempotencyStore, IdempotentResponse, Reply

LEASE_NS = 60 * 1_000_000_000
# Statuses of refusals that leave no trace: everything else (success, insufficient funds, a limit) is stored and
# replayed, because the ledger has decided it for good.
RETRYABLE_REFUSALS = frozenset({400, 401, 403, 404, 429})
MAX_KEY = 255


def fingerprint(request: Request, payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{request.method} {request.url.path}\n{canonical}".encode()).hexdigest()


def check_key(key: str | None) -> str:
    if key is None or not key.strip():
        raise IdempotencyKeyRequired("send an Idempotency-Key header (a UUID works)", param="Idempotency-Key")
    if len(key) > MAX_KEY or not key.isprintable():
        raise InvalidId("Idempotency-Key must be at most 255 printable characters", param="Idempotency-Key")
    return key


class Completion:
    """Makes an operation's response for the operation to store inside its own unit of work (``reply``)."""

    def __init__(self, store: IdempotencyStore, principal: str, key: str, now: int) -> None:
        self._store, self._principal, self._key, self._now = store, principal, key, now
        self.stored: IdempotentResponse | None = None

    def reply(self, status: int, body: Any) -> Reply:
        """The response for the operation to store itself (``IdempotencyStore.complete_many``), in its unit of work;
        it is the answer if that commits."""
        self.stored = IdempotentResponse(status, _json(body))
        return Reply(self._principal, self._key, self.stored)


def _json(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def run_idempotent(
    request: Request,
    store: IdempotencyStore,
    now: int,
    principal: str,
    key: str | None,
    payload: Any,
    call: Callable[[Completion], tuple[int, Any]],
) -> Response:
    """Run ``call`` once per key and answer every retry with its stored response.

    ``call`` returns (status, body); when it has stored its response through the ``Completion`` it is handed, that
    stored response is the answer and the body it returns is not used.
    """
    key = check_key(key)
    claim = store.claim(principal, key, fingerprint(request, payload), now, LEASE_NS)
    if claim.replay is not None:
        return _answer(claim.replay, replayed=True)
    completion = Completion(store, principal, key, now)
    try:
        status, body = call(completion)
    except PocketBankError as exc:
        if completion.stored is not None:
            # The outcome committed, with its response, before this error: that response is the answer.
            return _answer(completion.stored)
        status = STATUS.get(exc.code, 400)
        if status in RETRYABLE_REFUSALS:
            # Refused before anything happened (a mistyped step-up code, a malformed field): forget the key, so
            # the corrected retry is judged afresh instead of replaying this refusal forever.
            store.release(principal, key)
            raise
        body = {
            "type": TYPE_BASE + exc.code,
            "title": exc.code.replace("_", " ").capitalize(),
            "status": status,
            "detail": exc.message,
            "code": exc.code,
            "param": exc.param,
            "request_id": request_id(request),
        }
    except BaseException:
        store.release(principal, key)  # a no-op once the response is stored: a retry then replays it
        raise
    if completion.stored is None:
        completion.stored = IdempotentResponse(status, _json(body))
        store.complete(principal, key, completion.stored, now)
    return _answer(completion.stored)


def _answer(response: IdempotentResponse, *, replayed: bool = False) -> Response:
    """The stored response, byte for byte: the first answer and every replay are the same."""
    return Response(
        response.body,
        status_code=response.status,
        media_type=PROBLEM if response.status >= 400 else "application/json",
        headers={"Idempotent-Replayed": "true"} if replayed else None,
    )
