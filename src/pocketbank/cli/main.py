"""The ``pocketbank`` command: demo, and ledger operations (verify, sweep) against the configured database."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from pocketbank.bootstrap import build_container
from pocketbank.cli.demo import run_demo

app = typer.Typer(help="PocketBank: the bank behind a phone.", no_args_is_help=True)
ledger_app = typer.Typer(help="Ledger operations on POCKETBANK_DATABASE_URL.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
console = Console()


@app.command()
def demo(db: Annotated[Path, typer.Option(help="SQLite file to (re)create")] = Path("pocketbank-demo.db")) -> None:
    """Run the ledger demonstration on an embedded SQLite file."""
    if not run_demo(db, console):
        raise typer.Exit(1)


@ledger_app.command()
def verify() -> None:
    """Check per-ledger debits = credits and every account's counters against its transfers."""
    container = build_container()
    try:
        report = container.ledger.verify()
    finally:
        container.close()
    for problem in report.problems:
        console.print(f"[red]{problem}[/red]")
    console.print(f"{report.accounts} accounts, {report.transfers} transfers: {'ok' if report.ok else 'FAILED'}")
    if not report.ok:
        raise typer.Exit(1)


@ledger_app.command()
def sweep(
    loop: Annotated[bool, typer.Option(help="Keep sweeping until interrupted")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between passes with --loop")] = 1.0,
) -> None:
    """Expire pending transfers whose timeout has passed."""
    container = build_container()
    try:
        while True:
            expired = container.ledger.expire_pending()
            if expired or not loop:
                console.print(f"expired {expired} pending transfer(s)")
            if not loop:
                return
            time.sleep(interval)
    finally:
        container.close()
