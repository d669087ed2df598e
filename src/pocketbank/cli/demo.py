"""``pocketbank demo``: the ledger at work on an embedded SQLite file, printed for a person to read.

It opens a bank's accounts and two customers, then shows the ledger's guarantees one by one: a transfer with its
fee as one linked chain, a safe retry, a refused overdraft that stays refused, and a two-phase hold that is partly
captured and another that is voided. Every step prints its result codes; at the end, balances and a full
verification of the ledger's invariants.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pocketbank.domain.clock import ManualClock
from pocketbank.domain.ledger import Account, AccountFlags, CreateTransferResult, Transfer, TransferFlags
from pocketbank.domain.money import CNY, Money
from pocketbank.services.ledger import LedgerService
from pocketbank.storage.engine import open_ledger_store

CUSTOMER = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags.HISTORY
VAULT, FEES, ALICE, BOB, SHOP = 1, 2, 101, 102, 201
NAMES = {VAULT: "Bank vault", FEES: "Fee income", ALICE: "Alice", BOB: "Bob", SHOP: "Coffee shop"}
L = CNY.ledger


def _step(console: Console, title: str, results: Sequence[CreateTransferResult]) -> None:
    console.print(f"[bold]{title}[/bold] → " + ", ".join(r.value for r in results))


def run_demo(db_path: Path, console: Console) -> bool:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    clock = ManualClock()
    ledger = LedgerService(open_ledger_store(f"sqlite:///{db_path}"), clock)
    try:
        console.print(f"PocketBank ledger demo on [cyan]{db_path}[/cyan] (SQLite, WAL, synchronous=FULL)\n")
        ledger.create_accounts(
            [
                Account(VAULT, L, 100),
                Account(FEES, L, 200),
                Account(ALICE, L, 1, CUSTOMER),
                Account(BOB, L, 1, CUSTOMER),
                Account(SHOP, L, 2, AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS),
            ]
        )
        deposit = [Transfer(1001, VAULT, ALICE, 1_000_000, L, 1)]
        _step(console, "Alice deposits ¥10,000.00", ledger.create_transfers(deposit))
        payment = [
            Transfer(1002, ALICE, BOB, 123_456, L, 2, TransferFlags.LINKED),
            Transfer(1003, ALICE, FEES, 500, L, 3),  # the counter channel's fee, in the same all-or-nothing chain
        ]
        _step(console, "Alice pays Bob ¥1,234.56 at the counter, fee ¥5.00", ledger.create_transfers(payment))
        _step(console, "The phone retries the same payment (same ids)", ledger.create_transfers(payment))
        overdraft = [Transfer(1004, BOB, SHOP, 20_000_00, L, 2)]
        _step(console, "Bob tries to spend ¥20,000.00", ledger.create_transfers(overdraft))
        ledger.create_transfers([Transfer(1005, VAULT, BOB, 20_000_00, L, 1)])
        _step(console, "...after a large deposit, the same request again", ledger.create_transfers(overdraft))
        hold = Transfer(1006, ALICE, SHOP, 30_000, L, 4, TransferFlags.PENDING, timeout=3600)
        _step(console, "Coffee shop places a ¥300.00 hold on Alice's account", ledger.create_transfers([hold]))
        alice = ledger.lookup_accounts([ALICE])[0]
        console.print(f"   Alice's available balance is now {Money(alice.available, CNY).format('en')}")
        post = Transfer(1007, 0, 0, 25_000, 0, 0, TransferFlags.POST_PENDING_TRANSFER, pending_id=1006)
        _step(console, "The shop captures ¥250.00 of it; the rest is released", ledger.create_transfers([post]))
        hold2 = Transfer(1008, ALICE, SHOP, 10_000, L, 4, TransferFlags.PENDING, timeout=60)
        ledger.create_transfers([hold2])
        clock.advance(61)
        console.print(f"[bold]A second ¥100.00 hold times out[/bold] → expired: {ledger.expire_pending()}")
        _print_balances(console, ledger)
        report = ledger.verify()
        verdict = "[green]ok[/green]" if report.ok else f"[red]{len(report.problems)} problems[/red]"
        console.print(f"\nVerify: {report.accounts} accounts, {report.transfers} transfers, invariants: {verdict}")
        return report.ok
    finally:
        ledger.close()


def _print_balances(console: Console, ledger: LedgerService) -> None:
    table = Table(title="Balances")
    for column in ("account", "balance (en)", "余额 (zh_CN)", "available"):
        table.add_column(column, justify="right" if column != "account" else "left")
    for a in ledger.lookup_accounts(list(NAMES)):
        # The bank's own accounts carry the other side of customers' money: show them as posted credits − debits.
        table.add_row(
            NAMES[a.id],
            Money(a.balance, CNY).format("en"),
            Money(a.balance, CNY).format("zh_CN"),
            Money(a.available, CNY).format("en"),
        )
    console.print(table)
