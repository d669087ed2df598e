"""The OpenAPI description, made to say what the API really answers.

FastAPI documents a 422 ``HTTPValidationError`` on every operation; this API answers validation errors with 400
``application/problem+json`` (see ``errors.py``), and every refusal with problem+json. This module replaces the
default with a ``Problem`` schema and documents the problem responses each operation can give, so clients (and
schemathesis's conformance check) see the truth.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": ["string", "null"]},
        "code": {"type": "string", "description": "Stable machine code, e.g. insufficient_funds"},
        "param": {"type": ["string", "null"], "description": "The input at fault"},
        "request_id": {"type": ["string", "null"]},
    },
    "additionalProperties": True,
}

DESCRIPTIONS = {
    "400": "Invalid request (problem+json; code names the fault, param the field)",
    "401": "Not authenticated, or the session expired",
    "402": "Refused for a business reason: insufficient_funds, limit_exceeded",
    "403": "Forbidden, or a step-up proof is missing or wrong",
    "404": "No such object visible to the caller",
    "409": "Conflicts with the current state, or the Idempotency-Key is in use",
    "422": "The Idempotency-Key was used with a different request",
    "423": "Locked after too many failed logins",
    "429": "Rate limited; see Retry-After",
    "500": "Internal error",
}


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes, openapi_version="3.1.0"
        )
        components = spec.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = PROBLEM_SCHEMA
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        ref = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        for path_item in spec.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.setdefault("responses", {})
                for status, description in DESCRIPTIONS.items():
                    responses[status] = {"description": description, **ref}
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
