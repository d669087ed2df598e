"""Errors PocketBank raises on purpose.

Every error the bank raises deliberately derives from `PocketBankError` and carries a stable machine
`code` (a class attribute: clients and tests match on it, so it never changes once released), an optional
`param` naming the input that was wrong, and a human `message`. Transport layers map these to their own
shapes; this module knows nothing about HTTP so that the domain can raise them freely.
"""

from __future__ import annotations

from typing import ClassVar


class PocketBankError(Exception):
    """Base of every deliberate PocketBank error."""

    code: ClassVar[str] = "pocketbank_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, param={self.param!r}, message={self.message!r})"


# --- Money and assets -------------------------------------------------------------------------------------


class UnknownAsset(PocketBankError):
    """No asset with this code or ledger number is registered."""

    code = "unknown_asset"


class InvalidAsset(PocketBankError):
    """An asset definition is malformed (bad code, ledger number, scale or kind)."""

    code = "invalid_asset"


class AssetConflict(PocketBankError):
    """A different asset already holds this code or ledger number."""

    code = "asset_conflict"


class AssetMismatch(PocketBankError):
    """Two amounts in different assets were combined or compared."""

    code = "asset_mismatch"


class InvalidAmount(PocketBankError):
    """An amount is not a well-formed value (wrong type, bad syntax, NaN or infinity)."""

    code = "invalid_amount"


class TooManyDecimals(InvalidAmount):
    """An amount has more decimals than its asset's minor unit; we refuse rather than round silently."""

    code = "amount_too_precise"


class AmountOverflow(InvalidAmount):
    """An amount does not fit the signed 64-bit storage of minor units."""

    code = "amount_overflow"


class UnsupportedLocale(PocketBankError, ValueError):
    """Formatting was asked for a locale the bank does not support."""

    code = "unsupported_locale"


# --- Requests and identifiers ------------------------------------------------------------------------------


class InvalidId(PocketBankError):
    """A public id is malformed or of the wrong kind (a transfer id where an account id belongs)."""

    code = "invalid_id"


class NotFound(PocketBankError):
    """No such object visible to the caller (someone else's object is reported the same way)."""

    code = "not_found"


class Conflict(PocketBankError):
    """The request conflicts with the current state of the object."""

    code = "conflict"


class IdempotencyKeyInUse(PocketBankError):
    """A request with this Idempotency-Key is still being processed."""

    code = "idempotency_key_in_use"


class IdempotencyKeyReused(PocketBankError):
    """This Idempotency-Key was used with a different request."""

    code = "idempotency_key_reused"


class IdempotencyKeyRequired(PocketBankError):
    """Money-moving requests must carry an Idempotency-Key header."""

    code = "idempotency_key_required"


# --- Customers, credentials, pricing and limits -----------------------------------------------------------


class InvalidPhoneNumber(PocketBankError):
    """A mobile number is neither a mainland 11-digit mobile number nor a valid E.164 mobile number."""

    code = "invalid_phone_number"


class InvalidIdDocument(PocketBankError):
    """An identity document number is malformed or fails its checksum."""

    code = "invalid_id_document"


class InvalidName(PocketBankError):
    """A person's name is empty, longer than 64 characters, or contains control characters."""

    code = "invalid_name"


class WeakPassword(PocketBankError):
    """A password fails the NIST SP 800-63B policy; `reason` says which rule, as a stable snake_case word."""

    code = "weak_password"

    def __init__(self, message: str, *, reason: str, param: str | None = "password") -> None:
        super().__init__(message, param=param)
        self.reason = reason


class PricingUnavailable(PocketBankError):
    """No fee rule exists for this product on this channel: the product is not offered there."""

    code = "pricing_unavailable"


class LimitExceeded(PocketBankError):
    """An amount is above a transaction limit; `scope` names the limit and `limit` its amount in minor units."""

    code = "limit_exceeded"

    def __init__(self, message: str, *, scope: str, limit: int, param: str | None = "amount") -> None:
        super().__init__(message, param=param)
        self.scope = scope
        self.limit = limit


class LimitsUnavailable(PocketBankError):
    """No limit schedule exists for this currency, so payments in it are refused rather than left unlimited."""

    code = "limits_unavailable"


class InvalidRulesData(PocketBankError):
    """A fee, limit or password rule (or the data file it was loaded from) is malformed."""

    code = "invalid_rules_data"


# --- Authentication and authorisation ----------------------------------------------------------------------


class Unauthenticated(PocketBankError):
    """No valid credentials: missing, expired, revoked or idle-timed-out token."""

    code = "unauthenticated"


class Forbidden(PocketBankError):
    """Authenticated, but this principal may not do this (a teller reversing a transfer, say)."""

    code = "forbidden"


class RateLimited(PocketBankError):
    """Too many attempts; ``retry_after`` seconds until the next one is allowed."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.retry_after = retry_after


# --- Sign-up, login, sessions, one-time codes and step-up ---------------------------------------------------


class InvalidCredentials(PocketBankError):
    """Wrong password or unknown login: deliberately the same error for both, so no one learns who banks here."""

    code = "invalid_credentials"


class AccountLocked(PocketBankError):
    """Too many consecutive failed logins; ``retry_after`` seconds until the next attempt is accepted."""

    code = "account_locked"

    def __init__(self, message: str, *, retry_after: int, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.retry_after = retry_after


class SessionExpired(Unauthenticated):
    """The session timed out (idle for too long, or past its absolute lifetime): log in again."""

    code = "session_expired"


class InvalidCode(PocketBankError):
    """A one-time code (SMS, TOTP) is wrong, expired, already used or out of attempts."""

    code = "invalid_code"


class StepUpFailed(PocketBankError):
    """A step-up proof is wrong, used, expired, out of attempts, or was issued for a different amount or payee."""

    code = "step_up_failed"


class AlreadyRegistered(PocketBankError):
    """This mobile number or identity document already belongs to a customer (told only after the SMS code)."""

    code = "already_registered"


class MethodNotEnrolled(PocketBankError):
    """The second factor asked for (TOTP, transaction PIN) is not set up for this customer."""

    code = "method_not_enrolled"


# --- Accounts and transfers --------------------------------------------------------------------------------


class UnsupportedCurrency(PocketBankError):
    """The bank does not hold accounts or make transfers in this currency."""

    code = "unsupported_currency"


class AccountNotEmpty(PocketBankError):
    """An account with money in it (or money on its way) cannot be closed."""

    code = "account_not_empty"


class AccountClosed(PocketBankError):
    """The account is closed and takes no more transfers."""

    code = "account_closed"


class CurrencyMismatch(PocketBankError):
    """The amount's currency is not the account's: converting needs an explicit FX order."""

    code = "currency_mismatch"


class InsufficientFunds(PocketBankError):
    """The account's available balance does not cover the amount and its fee."""

    code = "insufficient_funds"


class SameAccount(PocketBankError):
    """A transfer needs two different accounts."""

    code = "same_account"


class TransferNotCancellable(PocketBankError):
    """Only a scheduled transfer that has not been posted yet can be cancelled."""

    code = "transfer_not_cancellable"


class TransferNotReversible(PocketBankError):
    """Only a posted transfer can be reversed, and only once."""

    code = "transfer_not_reversible"


class StepUpRequired(PocketBankError):
    """Money movement needs a fresh step-up proof bound to the amount and payee."""

    code = "step_up_required"


class InvalidParameter(PocketBankError):
    """A query or body parameter has a value the API does not accept."""

    code = "invalid_parameter"
