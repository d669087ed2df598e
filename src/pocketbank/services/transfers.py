"""Intra-bank transfers: quote, create (real-time or scheduled), cancel, reverse, and post what is due.

Creating a transfer, in order:

0. what the checks below need is read in one go (``TransferFacts``: an earlier attempt, payee, accounts, step-up
   challenge and the customer's standing), as of one moment; nothing read is trusted as final (see there);
1. the transfer id is derived from the customer and the ``Idempotency-Key``; if that transfer already exists (a
   retry whose first response was lost) it is returned as it is, before anything else is checked: the step-up
   code of the first attempt is spent, and the money must not move twice. If it asks for another payment (the
   key's stored response was purged after its retention, and the key reused) it is refused, never returned;
2. accounts, payee and amount are checked; the step-up proof must match this amount and payee exactly (an SMS
   proof is checked here and spent with the transfer's record in step 4, so it is spent exactly when the transfer
   is recorded);
3. the fee comes from the fee schedule for the channel; per-transaction and cooling-off caps are checked, in the
   transfer's currency (its own limit schedule; a currency without one is refused, never left unlimited);
4. the transfer is recorded as ``processing`` with its chain (new ledger ids, ``domain.transfers``), then the chain
   goes to the ledger: payment, fee, and one leg per period limit (on the currency's limit ledger);
5. the outcome, its audit record and its event are written in one unit of work.

If the process dies after the record is written, the retry finds it at step 1 and resubmits the recorded chain:
the ledger answers ``exists`` for whatever it had applied (``services.transfer_effects``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pocketbank.domain.accounts import (
    AccountStatus,
    DepositAccount,
    fee_account_id,
)
from pocketbank.domain.arrival import ArrivalMode, scheduled_for
from pocketbank.domain.channels import AuthMethod
from pocketbank.domain.clock import NS_PER_SECOND
from pocketbank.domain.ids import IdKind, format_id, parse_id
from pocketbank.domain.ledger import AMOUNT_MAX
from pocketbank.domain.limits import (
    LimitPolicy,
)
from pocketbank.domain.money import CNY, AssetRegistry, Money
from pocketbank.domain.payees import Payee
from pocketbank.domain.pricing import FeeQuote, FeeSchedule, Product
from pocketbank.domain.principals import Principal
from pocketbank.domain.stepup import binding_digest
from pocketbank.domain.transfers import TransferRecord, TransferStatus, payment_chain, transfer_id_for
from pocketbank.errors import (
    AccountClosed,
    CurrencyMismatch,
    InvalidAmount,
    InvalidId,
    NotFound,
    PricingUnavailable,
    SameAccount,
    StepUpRequired,
)
from pocketbank.services.accounts import owned_by
from pocketbank.services.ledger import LedgerService
from pocketbank.services.ports import IdempotencyStore, StepUpPass, StepUpVerifier
from pocketbank.services.transfer_effects import TransferEffects
from pocketbank.services.transfer_limits import LimitAllowances
from pocketbank.services.transfer_ports import (
    FactsQuery,
    Respond,
    Standing,
    TransferFacts,
    TransferFactsReader,
    TransferRecordStore,
)
from pocketbank.services.unit import UnitDeps

# A request records its transfer (or a reversal), then sends the chain and writes the outcome within milliseconds.
# One still processing (or reversing) after two minutes, twice the idempotency lease after which a retry may take
# over anyway, was interrupted: the scheduler finishes it.
STALLED_AFTER_NS = 120 * NS_PER_SECOND


@dataclass(frozen=True, slots=True)
class TransferDraft:
    from_account: int
    amount: int
    currency: str
    to_account: int | None = None
    payee_id: int | None = None
    arrival: ArrivalMode = ArrivalMode.REAL_TIME
    memo: str = ""

    def matches(self, record: TransferRecord) -> bool:
        """Whether ``record`` is what this draft asks for: a retry of it, not another payment under the same key."""
        to_payee = self.payee_id is not None
        return (
            record.from_account == self.from_account
            and record.amount == self.amount
            and record.currency == self.currency.upper()
            and record.arrival == self.arrival.value
            and record.memo == self.memo
            and (record.payee_id == self.payee_id if to_payee else record.to_account == self.to_account)
        )

    @property
    def destination_ref(self) -> str:
        """What the step-up proof is bound to: the payee id or account id exactly as the request named it."""
        if self.payee_id is not None:
            return format_id(IdKind.PAYEE, self.payee_id)
        return format_id(IdKind.ACCOUNT, self.to_account or 0)


@dataclass(frozen=True, slots=True)
class StepUpProof:
    challenge_id: str
    code: str

    @property
    def challenge_key(self) -> int | None:
        """The challenge's id, to read it with the rest; None when it is no id at all (the check refuses it)."""
        try:
            return parse_id(IdKind.CHALLENGE, self.challenge_id, param="challenge_id")
        except InvalidId:
            return None


@dataclass(frozen=True, slots=True)
class Quote:
    fee: FeeQuote
    amount: int
    currency: str
    arrival: ArrivalMode
    scheduled_for: int | None  # ns; None = now
    payee_name: str | None

    @property
    def total(self) -> int:
        return self.amount + self.fee.fee.minor


@dataclass(frozen=True, slots=True)
class _Resolved:
    source: DepositAccount
    target: DepositAccount
    payee: Payee | None
    to_own: bool
    standing: Standing | None  # None: there is no such customer


class TransferService:
    def __init__(
        self,
        *,
        deps: UnitDeps,
        records: TransferRecordStore,
        facts: TransferFactsReader,
        ledger: LedgerService,
        assets: AssetRegistry,
        fees: FeeSchedule,
        limits: LimitPolicy,
        step_up: StepUpVerifier,
        replies: IdempotencyStore,
        batch_writers: int = 0,
    ) -> None:
        self.d, self.records, self.facts, self.ledger = deps, records, facts, ledger
        self.assets, self.fees, self.limits = assets, fees, limits
        self.step_up = step_up
        # ``batch_writers``: threads writing concurrent requests' transfers together (``services.transfer_submit``).
        self.effects = TransferEffects(deps, records, ledger, step_up, replies, batch_writers=batch_writers)
        self.allowances = LimitAllowances(ledger, limits)

    def close(self) -> None:
        self.effects.close()

    # -- reading and quoting --------------------------------------------------------------------------------

    def get(self, principal: Principal, transfer_id: int) -> TransferRecord:
        record = self.records.get(transfer_id)
        if record is None or (not principal.is_staff and record.customer_id != principal.id):
            raise NotFound("no such transfer", param="transfer_id")
        return record

    def quote(self, principal: Principal, draft: TransferDraft) -> Quote:
        facts = self.facts.read(_query(principal.id, draft))
        return self._quote(principal, draft, self._resolve(principal, draft, facts))

    def _quote(self, principal: Principal, draft: TransferDraft, r: _Resolved) -> Quote:
        asset = self.assets.get(r.source.currency)
        fee = self._fee(principal, Money(draft.amount, asset))
        accepted = datetime.fromtimestamp(self.d.now() / NS_PER_SECOND, tz=UTC)
        when = scheduled_for(draft.arrival, accepted)
        return Quote(
            fee=fee,
            amount=draft.amount,
            currency=r.source.currency,
            arrival=draft.arrival,
            scheduled_for=int(when.timestamp()) * NS_PER_SECOND if when else None,
            payee_name=r.payee.name if r.payee else None,
        )

    def _fee(self, principal: Principal, amount: Money) -> FeeQuote:
        """The fee schedule is in CNY. A transfer in another currency is priced by the same rule when that rule
        is free (as intra-bank transfers are on every channel); a charging rule would need an FX quote first."""
        if amount.asset == CNY:
            return self.fees.quote(Product.INTRA_BANK_TRANSFER, principal.channel, amount)
        rule = self.fees.rule(Product.INTRA_BANK_TRANSFER, principal.channel)
        if not rule.is_free:
            raise PricingUnavailable(f"fees in {amount.asset.code} need an FX quote", param="currency")
        rule_id = f"{self.fees.version}:{Product.INTRA_BANK_TRANSFER.value}:{principal.channel.value}"
        return FeeQuote(Money(0, amount.asset), rule_id, rule.describe(), False, None, None)

    def _resolve(
        self, principal: Principal, draft: TransferDraft, facts: TransferFacts, customer_id: int | None = None
    ) -> _Resolved:
        """The checks of step 2, in order, on ``facts``. ``customer_id``: the customer a teller acts for."""
        owner = principal.id if customer_id is None else customer_id
        if type(draft.amount) is not int or draft.amount <= 0:
            raise InvalidAmount("amount must be a positive integer of minor units", param="amount")
        if draft.amount > AMOUNT_MAX:
            raise InvalidAmount("amount is too large", param="amount")
        payee = None
        if draft.payee_id is not None and customer_id is None and facts.payee is not None:
            payee = facts.payee if facts.payee.usable_by(principal.id) else None
        to_id = payee.account_id if payee is not None else draft.to_account
        # Everything was read at once; the checks below keep their order all the same, so a request with several
        # faults is told about the first one, whichever that is.
        found = facts.accounts
        source = owned_by(found.get(draft.from_account), owner, param="from_account")
        if source.status is not AccountStatus.OPEN:
            raise AccountClosed("the account is closed", param="from_account")
        if draft.currency.upper() != source.currency:
            raise CurrencyMismatch(f"the account holds {source.currency}; convert with an FX order", param="currency")
        # A currency without a limit schedule is refused here, before a quote is shown or a step-up code is spent.
        self.limits.schedule(source.currency)
        if draft.payee_id is not None and payee is None:
            raise NotFound("no such payee", param="payee_id")
        if to_id is None:
            raise NotFound("name a payee or an account to pay", param="to_account")
        target = found.get(to_id)
        if target is None:
            raise NotFound("no account with this number", param="to_account")
        if target.id == source.id:
            raise SameAccount("pay to another account", param="to_account")
        if target.status is not AccountStatus.OPEN:
            raise AccountClosed("the receiving account is closed", param="to_account")
        if target.currency != source.currency:
            raise CurrencyMismatch("both accounts must hold the same currency", param="to_account")
        to_own = target.customer_id == owner
        if not to_own and payee is None and not principal.is_staff:
            # Paying a stranger needs a saved payee: that is what the cooling-off window protects.
            raise NotFound("add the account as a payee first", param="to_account")
        return _Resolved(source, target, payee, to_own, facts.standing)

    # -- creating -------------------------------------------------------------------------------------------

    def create(
        self,
        principal: Principal,
        draft: TransferDraft,
        idempotency_key: str,
        proof: StepUpProof | None,
        respond: Respond | None = None,
    ) -> TransferRecord:
        """``respond`` makes the caller's answer (the API's idempotent response) from the transfer as recorded; it
        is stored in the unit of work that records the transfer's outcome, when this call is the one that does."""
        transfer_id = transfer_id_for(principal.id, idempotency_key)
        challenge = proof.challenge_key if proof is not None else None
        device = None if principal.is_staff else principal.device_id
        facts = self.facts.read(_query(principal.id, draft, transfer_id, challenge, device))
        done = self.effects.existing(principal, facts.earlier, draft.matches)
        if done is not None:
            return done
        r = self._resolve(principal, draft, facts)
        if proof is None:
            raise StepUpRequired("confirm this transfer with a step-up code", param="step_up")
        binding = binding_digest(principal.public_id, draft.amount, draft.currency, draft.destination_ref)
        # An SMS proof is checked here and spent with the transfer's record, in the batch (``transfer_submit``).
        checked = self.step_up.check(principal, proof.challenge_id, proof.code, binding, self.d.now(), facts.challenge)
        if isinstance(checked, StepUpPass):
            return self._execute(principal, principal.id, draft, r, transfer_id, checked.method, respond, checked)
        return self._execute(principal, principal.id, draft, r, transfer_id, checked, respond)

    def create_at_counter(
        self,
        staff: Principal,
        customer_id: int,
        draft: TransferDraft,
        idempotency_key: str,
        respond: Respond | None = None,
    ) -> TransferRecord:
        """A teller's transfer for a customer who proved their identity in person: counter fees apply.

        The idempotency key is the teller's (the API scopes it to them), so the id is derived from teller and key:
        a key the customer used on the phone names a different transfer. ``respond``: as for ``create``.
        """
        transfer_id = transfer_id_for(customer_id, f"counter:{staff.public_id}:{idempotency_key}")
        facts = self.facts.read(_query(customer_id, draft, transfer_id))
        done = self.effects.existing(staff, facts.earlier, draft.matches)
        if done is not None:
            return done
        r = self._resolve(staff, draft, facts, customer_id=customer_id)
        return self._execute(staff, customer_id, draft, r, transfer_id, AuthMethod.STAFF, respond)

    def _execute(
        self,
        principal: Principal,
        customer_id: int,
        draft: TransferDraft,
        r: _Resolved,
        transfer_id: int,
        method: AuthMethod,
        respond: Respond | None = None,
        step_up: StepUpPass | None = None,
    ) -> TransferRecord:
        quote = self._quote(principal, draft, r)
        if r.standing is None:
            raise NotFound("no such customer", param="customer_id")
        # A stranger paid from a phone is capped while the payee or the device is new: not at the counter, where
        # the customer stands in front of a teller.
        cooling_off = not r.to_own and not principal.is_staff
        limit_legs = self.allowances.legs(
            Money(draft.amount, self.assets.get(r.source.currency)),
            customer_id,
            method,
            r.standing,
            to_own=r.to_own,
            cooling_off_from=(r.payee.added_at if r.payee else 0) if cooling_off else None,
            transfer_id=transfer_id,
            now=self.d.now(),
        )
        scheduled = quote.scheduled_for is not None
        legs = payment_chain(
            transfer_id,
            iter(self.d.ids.new, None),  # the generator never answers None: as many new ids as the chain takes
            from_account=r.source.id,
            to_account=r.target.id,
            amount=draft.amount,
            ledger=r.source.ledger,
            fee=quote.fee.fee.minor,
            fee_account=fee_account_id(r.source.ledger, transfer_id),
            limit_amount=draft.amount,
            limits=limit_legs,
            scheduled=scheduled,
        )
        record = TransferRecord(
            id=transfer_id,
            customer_id=customer_id,
            from_account=r.source.id,
            to_account=r.target.id,
            amount=draft.amount,
            currency=r.source.currency,
            fee=quote.fee.fee.minor,
            fee_rule=quote.fee.rule_id,
            channel=principal.channel.value,
            auth_method=method.value,
            arrival=draft.arrival.value,
            status=TransferStatus.PROCESSING,
            created_at=self.d.now(),
            scheduled_for=quote.scheduled_for,
            payee_id=r.payee.id if r.payee else None,
            memo=draft.memo,
            legs=tuple(legs),
        )
        return self.effects.submit(principal, record, respond, step_up)

    # -- after creation -------------------------------------------------------------------------------------

    def cancel(self, principal: Principal, transfer_id: int) -> TransferRecord:
        return self.effects.cancel(principal, self.get(principal, transfer_id))

    def reverse(self, staff: Principal, transfer_id: int, reason: str) -> TransferRecord:
        record = self.get(staff, transfer_id)
        ledger = self.assets.get(record.currency).ledger
        return self.effects.reverse(staff, record, reason, ledger)

    def resume_stalled(self, limit: int = 100) -> int:
        """The scheduler: finish transfers left ``processing``, and reversals left ``reversing``, for
        ``STALLED_AFTER_NS`` by a request that died half-way (``TransferEffects.resume_stalled``). Returns how many."""
        before = self.d.now() - STALLED_AFTER_NS
        return self.effects.resume_stalled(before, limit, lambda currency: self.assets.get(currency).ledger)

    def post_due(self, limit: int = 500) -> int:
        """The scheduler: post every scheduled transfer whose arrival time has come. Returns how many."""
        return self.effects.post_due(self.d.now(), limit)


def _query(
    customer_id: int,
    draft: TransferDraft,
    transfer_id: int | None = None,
    challenge_id: int | None = None,
    device_id: int | None = None,
) -> FactsQuery:
    return FactsQuery(
        customer_id=customer_id,
        from_account=draft.from_account,
        to_account=draft.to_account,
        payee_id=draft.payee_id,
        transfer_id=transfer_id,
        challenge_id=challenge_id,
        device_id=device_id,
    )
