"""The limits a transfer must fit: per-transaction caps checked here, period limits debited in the ledger.

A period limit (a day's, a month's, a year's) is a ledger account, an *allowance*, funded once with the limit and
debited by each transfer in the same linked chain as the payment: the ledger's ``debits_must_not_exceed_credits``
then refuses the chain that would overdraw it, atomically with the posting, so two concurrent transfers can never
both pass a limit that only one fits. Each customer, scope, period and currency has its own allowance, with an id
derived from them (``domain.accounts.limit_account_id``), opened and funded the first time a transfer needs it.

Per-transaction caps, and the cooling-off cap on a new payee or device, depend on nothing but the one payment, so
they are checked here, before anything is written.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pocketbank.domain.accounts import (
    AccountCode,
    TransferCode,
    bank_account_id,
    derive_id,
    limit_account_id,
    limit_ledger,
    limit_usage_account_id,
)
from pocketbank.domain.channels import AuthMethod
from pocketbank.domain.clock import NS_PER_SECOND
from pocketbank.domain.ledger import Account, AccountFlags, Transfer
from pocketbank.domain.limits import (
    LimitPeriod,
    LimitPolicy,
    check_transaction_limits,
    cooling_off_cap,
    cooling_off_limit,
    period_key,
)
from pocketbank.domain.money import Asset, Money
from pocketbank.domain.transfers import LimitLeg
from pocketbank.services.ledger import LedgerService
from pocketbank.services.transfer_ports import Standing


class LimitAllowances:
    def __init__(self, ledger: LedgerService, limits: LimitPolicy) -> None:
        self.ledger, self.limits = ledger, limits
        self._funded: set[int] = set()  # allowance accounts known to exist and be funded

    def legs(
        self,
        amount: Money,
        customer_id: int,
        method: AuthMethod,
        standing: Standing,
        *,
        to_own: bool,
        cooling_off_from: int | None,
        transfer_id: int,
        now: int,
    ) -> list[LimitLeg]:
        """Check the per-transaction caps and name the period allowances to debit, all in the payment's currency.

        ``cooling_off_from``: when the payee was added (ns; 0 for none), if the cooling-off cap applies; None if not.
        """
        asset = amount.asset
        schedule = self.limits.schedule(asset.code)  # LimitsUnavailable when the currency has no limits
        applicable = schedule.applicable_limits(method, standing.account_class, to_own_account=to_own)
        if cooling_off_from is not None:
            cap = cooling_off_cap(cooling_off_from, standing.device_trusted_at, now, schedule.cooling_off)
            applicable = applicable + cooling_off_limit(cap, asset.code)
        check_transaction_limits(amount, applicable)
        at = datetime.fromtimestamp(now / NS_PER_SECOND, tz=UTC)
        legs = []
        allowances: dict[int, int] = {}
        ledger = limit_ledger(asset.ledger)
        usage = limit_usage_account_id(ledger, transfer_id)
        for lim in applicable:
            if lim.period is LimitPeriod.TRANSACTION:
                continue
            key = period_key(lim.period, at)
            allowance = limit_account_id(customer_id, lim.scope, key, asset.code)
            allowances[allowance] = lim.amount
            legs.append(LimitLeg(lim.scope, key, allowance, usage, ledger))
        self._ensure(asset, allowances)
        return legs

    def _ensure(self, asset: Asset, allowances: dict[int, int]) -> None:
        """Open and fund the allowance accounts a period uses the first time (idempotent ids, one batch)."""
        missing = {a: amount for a, amount in allowances.items() if a not in self._funded}
        if not missing:
            return
        ledger = limit_ledger(asset.ledger)
        flags = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
        self.ledger.create_accounts([Account(a, ledger, AccountCode.LIMIT_ALLOWANCE, flags) for a in missing])
        source = bank_account_id(ledger, AccountCode.LIMIT_SOURCE)
        fundings = [
            Transfer(derive_id(a, "fund"), source, a, amount, ledger, TransferCode.LIMIT_FUNDING)
            for a, amount in missing.items()
        ]
        bad = [r.value for r in self.ledger.create_transfers(fundings) if r.value not in ("ok", "exists")]
        if bad:
            raise RuntimeError(f"could not fund limit allowances: {bad}")
        self._funded.update(missing)
