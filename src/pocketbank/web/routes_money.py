"""Home, account history (endless scrolling), transfers (quote, SMS confirmation, receipt, cancel), payees, limits."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from pocketbank.bootstrap import Container
from pocketbank.domain.arrival import ArrivalMode
from pocketbank.domain.channels import AuthMethod
from pocketbank.domain.ids import IdKind, format_id, parse_id
from pocketbank.domain.money import Money
from pocketbank.domain.principals import Principal
from pocketbank.domain.stepup import binding_digest
from pocketbank.errors import InvalidAmount, PocketBankError
from pocketbank.services.statements import TYPE_NAMES, Direction, StatementEntry, StatementQuery
from pocketbank.services.transfers import StepUpProof, TransferDraft
from pocketbank.web.i18n import field_errors
from pocketbank.web.render import form_key, redirect, render
from pocketbank.web.session import form, text, web

router = APIRouter(include_in_schema=False)
Form = Annotated[FormData, Depends(form)]
PAGE: Final = 20
SHOWN_TYPES: Final = ("intra_bank", "fee", "deposit", "reversal", "fee_reversal")


# --- home and accounts ---------------------------------------------------------------------------------------


@router.get("/home")
def home(request: Request) -> Response:
    w = web(request)
    principal = w.customer()
    accounts = w.container.accounts.list_accounts(principal)
    latest: list[StatementEntry] = []
    default = next((a for a in accounts if a.account.is_default), accounts[0] if accounts else None)
    if default is not None:
        latest, _ = w.container.statements.entries(principal, default.account.id, StatementQuery(limit=5))
    me = w.container.customers.get_customer(principal)
    return render(request, "home.html", {"accounts": accounts, "latest": latest, "me": me})


def _query(direction: str, type_: str, after: str) -> StatementQuery:
    return StatementQuery(
        direction=Direction(direction) if direction in ("in", "out") else None,
        types=frozenset({type_}) if type_ in TYPE_NAMES else frozenset(),
        limit=PAGE,
        starting_after=parse_id(IdKind.TRANSFER, after, param="starting_after") if after else None,
    )


def _rows(
    w: Container, principal: Principal, account_id: str, direction: str, type_: str, after: str
) -> dict[str, object]:
    account = parse_id(IdKind.ACCOUNT, account_id, param="account_id")
    entries, more = w.statements.entries(principal, account, _query(direction, type_, after))
    next_after = format_id(IdKind.TRANSFER, entries[-1].id) if more and entries else ""
    return {
        "entries": entries, "next_after": next_after, "account_id": account_id, "direction": direction,
        "type": type_,
    }  # fmt: skip


@router.get("/accounts/{account_id}")
def account(request: Request, account_id: str, direction: str = "", type: str = "") -> Response:
    w = web(request)
    principal = w.customer()
    view = w.container.accounts.get_account(principal, parse_id(IdKind.ACCOUNT, account_id, param="account_id"))
    rows = _rows(w.container, principal, account_id, direction, type, "")
    return render(request, "account.html", {"view": view, "types": SHOWN_TYPES, **rows})


@router.get("/accounts/{account_id}/rows")
def account_rows(request: Request, account_id: str, direction: str = "", type: str = "", after: str = "") -> Response:
    w = web(request)
    rows = _rows(w.container, w.customer(), account_id, direction, type, after)
    return render(request, "_rows.html", rows)


# --- transfers -----------------------------------------------------------------------------------------------


def _draft(c: Container, data: FormData) -> tuple[TransferDraft, str]:
    """The transfer a form describes; the amount is parsed strictly from the yuan string typed."""
    amount_text = text(data, "amount", 32)
    from_account = parse_id(IdKind.ACCOUNT, text(data, "from_account", 40), param="from_account")
    payee = parse_id(IdKind.PAYEE, text(data, "payee_id", 40), param="payee_id")
    try:
        amount = Money.parse(amount_text, c.assets.get("CNY"))
    except InvalidAmount as exc:
        raise InvalidAmount(exc.message, param="amount") from None
    if not amount.is_positive():
        raise InvalidAmount("the amount must be more than zero", param="amount")
    arrival_text = text(data, "arrival", 16)
    arrival = ArrivalMode(arrival_text) if arrival_text in set(ArrivalMode) else ArrivalMode.REAL_TIME
    memo = text(data, "memo", 140)
    return TransferDraft(from_account, amount.minor, "CNY", payee_id=payee, arrival=arrival, memo=memo), amount_text


FIELDS: Final = ("from_account", "payee_id", "amount", "arrival", "memo")
ALIASES: Final = {"to_account": "payee_id", "currency": "amount", "step_up": "code", "challenge_id": "code"}


def _transfer_form(request: Request, values: dict[str, str], errors: dict[str, str], status: int = 200) -> Response:
    w = web(request)
    principal = w.customer()
    accounts = [a for a in w.container.accounts.list_accounts(principal) if a.account.currency == "CNY"]
    payees = w.container.payees.list(principal)
    ctx = {"accounts": accounts, "payees": payees, "values": values, "errors": errors}
    return render(request, "transfer.html", ctx, status)


@router.get("/transfer")
def transfer_page(request: Request, payee: str = "") -> Response:
    return _transfer_form(request, {"payee_id": payee[:40], "arrival": "real_time"}, {})


def _values(data: FormData) -> dict[str, str]:
    return {name: text(data, name, 140) for name in FIELDS}


@router.post("/transfer/quote")
def transfer_quote(request: Request, data: Form) -> Response:
    w = web(request)
    principal = w.customer()
    try:
        draft, amount_text = _draft(w.container, data)
        quote = w.container.transfers.quote(principal, draft)
    except PocketBankError as exc:
        return _transfer_form(request, _values(data), field_errors(exc, FIELDS, "amount", ALIASES), 400)
    return render(request, "transfer_quote.html", {"quote": quote, "values": _values(data), "amount_text": amount_text})


@router.post("/transfer/confirm")
def transfer_confirm(request: Request, data: Form) -> Response:
    """Step ``send``: text a code bound to this amount and payee; step ``submit``: move the money (once per key)."""
    w = web(request)
    c = w.container
    principal = w.customer()
    values = _values(data)
    try:
        draft, amount_text = _draft(c, data)
        quote = c.transfers.quote(principal, draft)
    except PocketBankError as exc:
        return _transfer_form(request, values, field_errors(exc, FIELDS, "amount", ALIASES), 400)
    ctx: dict[str, object] = {"quote": quote, "values": values, "amount_text": amount_text}
    if text(data, "step", 10) != "submit":
        binding = binding_digest(principal.public_id, draft.amount, draft.currency, draft.destination_ref)
        summary = f"paying {Money(draft.amount, c.assets.get('CNY'))} to {quote.payee_name or 'a payee'}"
        challenge = c.auth.create_challenge(principal, AuthMethod.SMS, binding, c.clock.now_ns(), summary=summary)
        return render(request, "transfer_confirm.html", {**ctx, "challenge_id": challenge.id, "key": form_key()})
    challenge_id, key = text(data, "challenge_id", 40), text(data, "idempotency_key", 64)
    if len(key) < 16:
        return _transfer_form(request, values, {"amount": "idempotency_key_required"}, 400)
    try:
        record = c.transfers.create(principal, draft, "web:" + key, StepUpProof(challenge_id, text(data, "code", 12)))
    except PocketBankError as exc:
        errors = field_errors(exc, ("code",), "code")
        return render(
            request, "transfer_confirm.html", {**ctx, "challenge_id": challenge_id, "key": key, "errors": errors}, 400
        )
    return redirect(request, "/transfers/" + format_id(IdKind.TRANSFER, record.id))


@router.get("/transfers/{transfer_id}")
def receipt(request: Request, transfer_id: str) -> Response:
    w = web(request)
    record = w.container.transfers.get(w.customer(), parse_id(IdKind.TRANSFER, transfer_id, param="transfer_id"))
    return render(request, "receipt.html", {"t": record, "tid": transfer_id})


@router.post("/transfers/{transfer_id}/cancel")
def cancel(request: Request, transfer_id: str, data: Form) -> Response:
    w = web(request)
    w.container.transfers.cancel(w.customer(), parse_id(IdKind.TRANSFER, transfer_id, param="transfer_id"))
    return redirect(request, "/transfers/" + transfer_id)


# --- payees and limits ---------------------------------------------------------------------------------------


def _payees(request: Request, extra: dict[str, object] | None = None, status: int = 200) -> Response:
    w = web(request)
    payees = w.container.payees.list(w.customer())
    return render(request, "payees.html", {"payees": payees, **(extra or {})}, status)


@router.get("/payees")
def payees(request: Request) -> Response:
    return _payees(request)


@router.post("/payees")
def add_payee(request: Request, data: Form) -> Response:
    w = web(request)
    principal = w.customer()
    name, account_id = text(data, "name", 64), text(data, "account_id", 40)
    try:
        account = parse_id(IdKind.ACCOUNT, account_id, param="account_id")
        w.container.payees.add(principal, name, account)
    except PocketBankError as exc:
        errors = field_errors(exc, ("name", "account_id"), "account_id")
        return _payees(request, {"errors": errors, "values": {"name": name, "account_id": account_id}}, 400)
    return redirect(request, "/payees")


@router.post("/payees/{payee_id}/remove")
def remove_payee(request: Request, payee_id: str, data: Form) -> Response:
    w = web(request)
    w.container.payees.remove(w.customer(), parse_id(IdKind.PAYEE, payee_id, param="payee_id"))
    return redirect(request, "/payees")


@router.get("/limits")
def limits(request: Request) -> Response:
    w = web(request)
    principal = w.customer()
    me = w.container.customers.get_customer(principal)
    policy = w.container.transfers.limits
    methods = (AuthMethod.PASSWORD, AuthMethod.PIN, AuthMethod.SMS, AuthMethod.TOTP)
    # Every currency the customer holds has limits of its own (CNY first): show each one that moves money.
    held = {v.account.currency for v in w.container.accounts.list_accounts(principal)}
    currencies = ["CNY", *sorted(c for c in held if c != "CNY" and c in policy.schedules)]
    sections = [
        {
            "currency": code,
            "methods": [(m, policy.schedules[code].auth[m]) for m in methods],
            "class_limits": policy.class_limits(me.account_class, code),
            "cooling": policy.schedules[code].cooling_off,
        }
        for code in currencies
    ]
    return render(request, "limits.html", {"me": me, "sections": sections})
