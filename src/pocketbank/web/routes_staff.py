"""The staff console (``/staff``, ``counter`` channel): look-up, class upgrade, cash deposit, transfer, reversal.

Tellers act for a customer who proved their identity in person: no step-up code; counter fees apply. Reversal is
for supervisors only: tellers are not shown the button, and a forged post gets a 403 page.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from pocketbank.domain.accounts import derive_id
from pocketbank.domain.arrival import ArrivalMode
from pocketbank.domain.channels import Channel
from pocketbank.domain.customers import AccountClass
from pocketbank.domain.ids import IdKind, format_id, parse_id
from pocketbank.domain.money import Money
from pocketbank.domain.pricing import Product
from pocketbank.domain.principals import StaffRole
from pocketbank.errors import Forbidden, InvalidAmount, PocketBankError
from pocketbank.services.accounts import AccountView
from pocketbank.services.transfers import TransferDraft
from pocketbank.web.i18n import field_errors
from pocketbank.web.render import form_key, login_refused, redirect, render
from pocketbank.web.session import form, secret_field, text, web

router = APIRouter(prefix="/staff", include_in_schema=False)
Form = Annotated[FormData, Depends(form)]
COUNTER_FIELDS: Final = ("from_account", "to_account", "amount")


@router.get("/login")
def login_page(request: Request, reason: str = "") -> Response:
    return render(request, "staff/login.html", {"reason": "idle" if reason == "idle" else ""})


@router.post("/login")
def login(request: Request, data: Form) -> Response:
    w = web(request)
    username = text(data, "username", 64)
    client = request.client.host if request.client else "unknown"
    try:
        tokens = w.container.staff.login(username, secret_field(data, "password"), client)
    except PocketBankError as exc:
        errors = field_errors(exc, ("username", "password"), "password")
        return login_refused(request, "staff/login.html", exc, {"errors": errors, "values": {"username": username}})
    w.start_session(tokens, staff=True)
    return redirect(request, "/staff")


@router.post("/logout")
def logout(request: Request, data: Form) -> Response:
    web(request).end_session(staff=True)
    return redirect(request, "/staff/login")


@router.get("")
def console(request: Request) -> Response:
    web(request).staff()
    return render(request, "staff/console.html")


@router.post("/lookup")
def lookup(request: Request, data: Form) -> Response:
    w = web(request)
    phone = text(data, "phone", 32)
    try:
        found = w.container.staff.find_customer(w.staff(), phone=phone)
    except PocketBankError as exc:
        errors = field_errors(exc, ("phone",), "phone")
        return render(request, "staff/console.html", {"errors": errors, "values": {"phone": phone}}, 400)
    return redirect(request, f"/staff/customers/{found.id}")


def _accounts(request: Request, customer_id: int) -> list[AccountView]:
    w = web(request)
    return w.container.accounts.customer_accounts(w.staff(), customer_id)


def _customer_page(
    request: Request, customer: str, extra: dict[str, object] | None = None, status: int = 200
) -> Response:
    w = web(request)
    staff = w.staff()
    view = w.container.staff.find_customer(staff, customer_id=customer)
    ctx = {
        "c": view, "accounts": _accounts(request, parse_id(IdKind.CUSTOMER, view.id)), "classes": list(AccountClass),
        "key": form_key(), **(extra or {}),
    }  # fmt: skip
    return render(request, "staff/customer.html", ctx, status)


@router.get("/customers/{customer}")
def customer_page(request: Request, customer: str) -> Response:
    return _customer_page(request, customer[:40])


@router.post("/customers/{customer}/upgrade")
def upgrade(request: Request, customer: str, data: Form) -> Response:
    w = web(request)
    try:
        new_class = AccountClass(int(text(data, "account_class", 2) or "0"))
    except ValueError:
        return _customer_page(request, customer, {"errors": {"account_class": "invalid_parameter"}}, 400)
    w.container.customers.upgrade_class(w.staff(), customer[:40], new_class, text(data, "reason", 280) or "counter")
    return _customer_page(request, customer, {"notice": "upgraded"})


def _amount(request: Request, data: FormData) -> Money:
    try:
        amount = Money.parse(text(data, "amount", 32), web(request).container.assets.get("CNY"))
    except InvalidAmount as exc:
        raise InvalidAmount(exc.message, param="amount") from None
    if not amount.is_positive():
        raise InvalidAmount("the amount must be more than zero", param="amount")
    return amount


@router.post("/customers/{customer}/deposit")
def deposit(request: Request, customer: str, data: Form) -> Response:
    w = web(request)
    staff = w.staff()
    key = text(data, "idempotency_key", 64)
    try:
        amount = _amount(request, data)
        account = parse_id(IdKind.ACCOUNT, text(data, "account_id", 40), param="account_id")
        if len(key) < 16:
            raise InvalidAmount("start again from the form", param="amount")
        w.container.accounts.deposit_cash(staff, account, amount.minor, derive_id("deposit", staff.id, "web:" + key))
    except PocketBankError as exc:
        errors = {"dep_" + k: v for k, v in field_errors(exc, ("amount", "account_id"), "amount").items()}
        return _customer_page(request, customer, {"errors": errors}, 400)
    return _customer_page(request, customer, {"notice": "deposited", "deposited": amount.minor})


@router.post("/customers/{customer}/transfer")
def counter_transfer(request: Request, customer: str, data: Form) -> Response:
    w = web(request)
    c = w.container
    staff = w.staff()
    key = text(data, "idempotency_key", 64)
    try:
        amount = _amount(request, data)
        draft = TransferDraft(
            from_account=parse_id(IdKind.ACCOUNT, text(data, "from_account", 40), param="from_account"),
            to_account=parse_id(IdKind.ACCOUNT, text(data, "to_account", 40), param="to_account"),
            amount=amount.minor, currency="CNY", arrival=ArrivalMode.REAL_TIME, memo=text(data, "memo", 140),
        )  # fmt: skip
        if len(key) < 16:
            raise InvalidAmount("start again from the form", param="amount")
        customer_id = parse_id(IdKind.CUSTOMER, customer[:40], param="customer_id")
        record = c.transfers.create_at_counter(staff, customer_id, draft, "web:" + key)
    except PocketBankError as exc:
        errors = {"tr_" + k: v for k, v in field_errors(exc, COUNTER_FIELDS, "amount").items()}
        return _customer_page(request, customer, {"errors": errors}, 400)
    return redirect(request, "/staff/transfers/" + format_id(IdKind.TRANSFER, record.id))


@router.get("/fee")
def counter_fee(request: Request, amount: str = "") -> Response:
    """HTMX fragment: the counter fee for an amount as the teller types it (not an action: nothing moves)."""
    w = web(request)
    w.staff()
    try:
        money = Money.parse(amount[:32], w.container.assets.get("CNY"))
        quote = w.container.transfers.fees.quote(Product.INTRA_BANK_TRANSFER, Channel.COUNTER, money)
    except PocketBankError:
        return render(request, "staff/_fee.html", {"fee": None})
    return render(request, "staff/_fee.html", {"fee": quote.fee.minor})


@router.get("/transfers/{transfer_id}")
def transfer(request: Request, transfer_id: str) -> Response:
    w = web(request)
    staff = w.staff()
    record = w.container.transfers.get(staff, parse_id(IdKind.TRANSFER, transfer_id, param="transfer_id"))
    can_reverse = staff.role is StaffRole.SUPERVISOR
    ctx = {"t": record, "tid": transfer_id, "can_reverse": can_reverse}
    return render(request, "staff/transfer.html", ctx)


@router.post("/transfers/{transfer_id}/reverse")
def reverse(request: Request, transfer_id: str, data: Form) -> Response:
    w = web(request)
    staff = w.staff()
    if staff.role is not StaffRole.SUPERVISOR:
        raise Forbidden("only a supervisor can reverse a transfer")
    target = parse_id(IdKind.TRANSFER, transfer_id, param="transfer_id")
    w.container.transfers.reverse(staff, target, text(data, "reason", 280) or "reversed at the counter")
    return redirect(request, "/staff/transfers/" + transfer_id)
