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
