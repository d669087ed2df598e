"""The double-entry ledger: TigerBeetle's model of accounts and transfers, as pure Python.

``model`` defines the records, ``results`` the result codes, ``validation`` the checks that need no state,
``batch`` what a batch reads and writes, ``machine`` the state machine that applies a batch of transfers to a
snapshot of the accounts it touches, and ``account_machine`` its account half.
"""

from pocketbank.domain.ledger.account_machine import create_accounts
from pocketbank.domain.ledger.batch import LedgerSnapshot, TransferBatchOutcome, required_ids
from pocketbank.domain.ledger.machine import TransferMachine
from pocketbank.domain.ledger.model import (
    AMOUNT_MAX,
    NS_PER_SECOND,
    U128_MAX,
    Account,
    AccountBalance,
    AccountFlags,
    AccountState,
    PendingState,
    PendingStatus,
    Transfer,
    TransferFlags,
)
from pocketbank.domain.ledger.results import (
    SUCCESS_TRANSFER_RESULTS,
    TRANSIENT_TRANSFER_RESULTS,
    CreateAccountResult,
    CreateTransferResult,
)

__all__ = [
    "AMOUNT_MAX",
    "NS_PER_SECOND",
    "SUCCESS_TRANSFER_RESULTS",
    "TRANSIENT_TRANSFER_RESULTS",
    "U128_MAX",
    "Account",
    "AccountBalance",
    "AccountFlags",
    "AccountState",
    "CreateAccountResult",
    "CreateTransferResult",
    "LedgerSnapshot",
    "PendingState",
    "PendingStatus",
    "Transfer",
    "TransferBatchOutcome",
    "TransferFlags",
    "TransferMachine",
    "create_accounts",
    "required_ids",
]
