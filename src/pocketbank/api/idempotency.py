"""``Idempotency-Key`` on money-moving POSTs (Stripe's semantics, the IETF draft's status codes).

The key is scoped to the caller. The first request claims it with a fingerprint of the method, path and body; its
response (success or business refusal) is stored and replayed to every retry with ``Idempotent-Replayed: true``.
A different body with the same key is 422; a retry while the first is still running is 409. If the first request
fails unexpectedly the claim is released, and a retry runs it again: safe, because the ledger transfer ids are
derived from the key, so the ledger itself answers ``exists`` rather than moving money twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from pocketbank.api.errors import PROBLEM, STATUS, TYPE_BASE, request_id
from pocketbank.errors import IdempotencyKeyRequired, InvalidId, PocketBankError
from pocketbank.services.ports import IdempotencyStore, IdempotentResponse

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


def run_idempotent(
    request: Request,
    store: IdempotencyStore,
    now: int,
    principal: str,
    key: str | None,
    payload: Any,
    call: Callable[[], tuple[int, Any]],
) -> Response:
    key = check_key(key)
    claim = store.claim(principal, key, fingerprint(request, payload), now, LEASE_NS)
    if claim.replay is not None:
        media = PROBLEM if claim.replay.status >= 400 else "application/json"
        return Response(
            claim.replay.body,
            status_code=claim.replay.status,
            media_type=media,
            headers={"Idempotent-Replayed": "true"},
        )
    try:
        status, body = call()
        media = "application/json"
    except PocketBankError as exc:
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
        media = PROBLEM
    except BaseException:
        store.release(principal, key)
        raise
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    store.complete(principal, key, IdempotentResponse(status, text), now)
    return JSONResponse(json.loads(text), status_code=status, media_type=media)
