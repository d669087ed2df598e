"""Registration, login (with the new-device SMS code), logout, and the Security page (devices, password, TOTP)."""

from __future__ import annotations

from typing import Annotated

import segno
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from pocketbank.domain.channels import Channel
from pocketbank.domain.customers import IdKind
from pocketbank.errors import PocketBankError
from pocketbank.web.i18n import field_errors
from pocketbank.web.render import login_refused, redirect, render
from pocketbank.web.session import DEVICE_COOKIE, YEAR, form, secret_field, text, web

router = APIRouter(include_in_schema=False)
Form = Annotated[FormData, Depends(form)]
DEVICE_LABEL = "web browser"


def client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# --- registration ---------------------------------------------------------------------------------------------


@router.get("/register")
def register_page(request: Request) -> Response:
    return render(request, "register_phone.html")


@router.post("/register")
def register_phone(request: Request, data: Form) -> Response:
    phone = text(data, "phone", 32)
    c = web(request).container
    try:
        started = c.customers.start_registration(phone, Channel.MOBILE, client_key(request))
    except PocketBankError as exc:
        errors = field_errors(exc, ("phone",), "phone")
        return render(request, "register_phone.html", {"errors": errors, "values": {"phone": phone}}, 400)
    return render(request, "register_details.html", {"phone": started.phone})


@router.post("/register/complete")
def register_complete(request: Request, data: Form) -> Response:
    w = web(request)
    phone, name, id_number = text(data, "phone", 32), text(data, "name", 64), text(data, "id_number", 32)
    try:
        reg = w.container.customers.register(
            phone=phone, code=text(data, "code", 12), password=secret_field(data, "password"), name=name,
            id_kind=IdKind.PRC_RESIDENT_ID, id_number=id_number, device_label=DEVICE_LABEL, channel=Channel.MOBILE,
            client_key=client_key(request),
        )  # fmt: skip
    except PocketBankError as exc:
        errors = field_errors(exc, ("code", "password", "name", "id_number"), "code")
        values = {"name": name, "id_number": id_number}
        return render(request, "register_details.html", {"phone": phone, "errors": errors, "values": values}, 400)
    w.start_session(reg.session, staff=False)
    return redirect(request, "/home")


# --- login, new device, logout -----------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, reason: str = "") -> Response:
    return render(request, "login.html", {"reason": "idle" if reason == "idle" else ""})


@router.post("/login")
def login(request: Request, data: Form) -> Response:
    w = web(request)
    phone = text(data, "phone", 32)
    device = request.cookies.get(DEVICE_COOKIE) or None
    try:
        result = w.container.auth.login(
            phone, secret_field(data, "password"), device, DEVICE_LABEL, Channel.MOBILE, client_key(request)
        )
    except PocketBankError as exc:
        errors = field_errors(exc, ("phone", "password"), "password")
        return login_refused(request, "login.html", exc, {"errors": errors, "values": {"phone": phone}})
    if result.session is not None:
        w.start_session(result.session, staff=False)
        return redirect(request, "/home")
    assert result.challenge is not None
    w.set_cookie(DEVICE_COOKIE, result.challenge.device_id, YEAR)
    return render(request, "login_device.html", {"challenge_id": result.challenge.challenge_id})


@router.post("/login/device")
def confirm_device(request: Request, data: Form) -> Response:
    w = web(request)
    challenge_id = text(data, "challenge_id", 40)
    try:
        tokens = w.container.auth.confirm_device(
            challenge_id, text(data, "code", 12), Channel.MOBILE, client_key(request)
        )
    except PocketBankError as exc:
        errors = field_errors(exc, ("code",), "code")
        return render(request, "login_device.html", {"challenge_id": challenge_id, "errors": errors}, 400)
    w.start_session(tokens, staff=False)
    return redirect(request, "/home")


@router.get("/logout")
def logout_get(request: Request, reason: str = "") -> Response:
    """The idle timer's way out (``/logout?reason=idle``); ends the session and shows the login page."""
    web(request).end_session(staff=False)
    return redirect(request, "/login?reason=idle" if reason == "idle" else "/login")


@router.post("/logout")
def logout(request: Request, data: Form) -> Response:
    web(request).end_session(staff=False)
    return redirect(request, "/")


# --- security ------------------------------------------------------------------------------------------------


def _security(request: Request, extra: dict[str, object] | None = None, status: int = 200) -> Response:
    w = web(request)
    principal = w.customer()
    devices = w.container.auth.list_devices(principal)
    me = w.container.customers.get_customer(principal)
    return render(request, "security.html", {"devices": devices, "me": me, **(extra or {})}, status)


@router.get("/security")
def security(request: Request) -> Response:
    return _security(request)


@router.post("/security/devices/{device_id}/revoke")
def revoke_device(device_id: str, request: Request, data: Form) -> Response:
    w = web(request)
    w.container.auth.revoke_device(w.customer(), device_id[:40])
    return redirect(request, "/security")


@router.post("/security/password")
def change_password(request: Request, data: Form) -> Response:
    w = web(request)
    principal = w.customer()
    try:
        w.container.auth.change_password(
            principal, secret_field(data, "old_password"), secret_field(data, "new_password")
        )
    except PocketBankError as exc:
        errors = field_errors(exc, ("old_password", "new_password"), "new_password", {"password": "new_password"})
        return _security(request, {"errors": errors}, 400)
    return _security(request, {"notice": "password_changed"})


@router.post("/security/logout-all")
def logout_everywhere(request: Request, data: Form) -> Response:
    w = web(request)
    w.container.auth.logout_everywhere(w.customer())
    w.end_session(staff=False)
    return redirect(request, "/login")


@router.post("/security/totp")
def enroll_totp(request: Request, data: Form) -> Response:
    w = web(request)
    enrolment = w.container.auth.enroll_totp(w.customer())
    qr = segno.make(enrolment.uri, error="m").svg_inline(scale=5, dark="#111", light="#fff")
    return render(request, "totp.html", {"qr": qr, "secret": enrolment.secret})


@router.post("/security/totp/confirm")
def confirm_totp(request: Request, data: Form) -> Response:
    w = web(request)
    try:
        w.container.auth.confirm_totp(w.customer(), text(data, "code", 12))
    except PocketBankError as exc:
        return render(request, "totp.html", {"errors": field_errors(exc, ("code",), "code"), "qr": ""}, 400)
    return _security(request, {"notice": "totp_on"})
