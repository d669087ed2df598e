"""FastAPI dependencies: the container, and the authenticated principal (bearer access token).

Routes declare ``customer: CurrentCustomer`` or ``staff: CurrentStaff``; the token is checked by the auth service
(``container.auth.authenticate``), which also enforces the idle timeout and revocation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from pocketbank.bootstrap import Container
from pocketbank.domain.principals import Principal, PrincipalKind
from pocketbank.errors import Forbidden, Unauthenticated

bearer = HTTPBearer(auto_error=False, description="Access token from POST /v1/sessions")


# The dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency in the thread pool, a
# thread hop (and a GIL hand-over) per dependency per request for what is an attribute read.


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> HTTPAuthorizationCredentials:
    """A bearer token is there (not yet checked): refused here, before the request body is validated."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("send a bearer access token", param="Authorization")
    return credentials


BearerCredentials = Annotated[HTTPAuthorizationCredentials, Depends(bearer_token)]


def current_principal(request: Request, credentials: BearerCredentials) -> Principal:
    container: Container = request.app.state.container
    principal = container.auth.authenticate(credentials.credentials, container.clock.now_ns())
    request.state.principal = principal
    return principal


def customer_only(principal: Principal) -> Principal:
    if principal.kind is not PrincipalKind.CUSTOMER:
        raise Forbidden("this endpoint is for customers")
    return principal


def authenticate_customer(request: Request, credentials: HTTPAuthorizationCredentials) -> Principal:
    """``CurrentCustomer``, called by hand: for an ``async`` route that runs its blocking work, authentication
    included, in one thread-pool call. Each ``def`` dependency and ``def`` route is a thread hop of its own, and a
    hop cost a worker about 0.1 ms of CPU, more under load, where handing threads the GIL queues."""
    return customer_only(current_principal(request, credentials))


T = TypeVar("T")


async def as_customer(request: Request, credentials: HTTPAuthorizationCredentials, work: Callable[[Principal], T]) -> T:
    """Authenticate the customer and run ``work`` for them, in one thread-pool call: the way of the hot routes.

    ``CurrentCustomer`` and a ``def`` route are two thread hops; this is one. Inside it the request's reads and
    units of work share one database connection (``Container.request_scope``) instead of checking one out each.
    The route declares ``BearerCredentials``, so a request without a token is still refused before anything else.
    """
    container: Container = request.app.state.container

    def call() -> T:
        with container.request_scope():
            return work(authenticate_customer(request, credentials))

    return await run_in_threadpool(call)


async def current_customer(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    return customer_only(principal)


async def current_staff(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if principal.kind is not PrincipalKind.STAFF:
        raise Forbidden("this endpoint is for bank staff")
    return principal


CurrentCustomer = Annotated[Principal, Depends(current_customer)]
CurrentStaff = Annotated[Principal, Depends(current_staff)]
