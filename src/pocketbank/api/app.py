"""``create_app(container)``: the FastAPI application, its error handlers and routes."""

from __future__ import annotations

from typing import Literal

from fastapi import FastAPI
from pydantic import BaseModel

from pocketbank.api import errors
from pocketbank.api.middleware import RequestIdMiddleware
from pocketbank.bootstrap import Container


class Health(BaseModel):
    status: Literal["ok"] = "ok"


def create_app(container: Container) -> FastAPI:
    app = FastAPI(
        title="PocketBank API",
        version="1",
        summary="The bank behind a phone: customers, accounts, transfers.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.container = container
    app.add_middleware(RequestIdMiddleware)
    errors.install(app)

    @app.get("/v1/health", operation_id="health", tags=["meta"])
    def health() -> Health:
        """Liveness: answers without touching the database (the no-op baseline of the API benchmark)."""
        return Health()

    return app
