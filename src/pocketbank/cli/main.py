"""The ``pocketbank`` command: demo, schema upgrade, ledger operations (verify, sweep) and the outbox relay."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pocketbank.bootstrap import build_container
from pocketbank.cli.demo import run_demo

app = typer.Typer(help="PocketBank: the bank behind a phone.", no_args_is_help=True)
ledger_app = typer.Typer(help="Ledger operations on POCKETBANK_DATABASE_URL.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
outbox_app = typer.Typer(help="The event outbox on POCKETBANK_DATABASE_URL.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")
db_app = typer.Typer(help="The schema of POCKETBANK_DATABASE_URL.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console()


@app.command()
def demo(
    db: Annotated[Path, typer.Option(help="SQLite file to (re)create")] = Path("pocketbank-demo.db"),
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    days: Annotated[int, typer.Option(min=1, max=365, help="Days of history to seed")] = 90,
) -> None:
    """Seed a demo bank on an embedded SQLite file and serve the API on http://HOST:PORT (docs at /docs)."""
    import uvicorn

    from pocketbank.api.main import app_with_jobs
    from pocketbank.bootstrap import build_container
    from pocketbank.cli.seed import seed_demo
    from pocketbank.config import Settings
    from pocketbank.integrations.clock import SystemClock

    with console.status("Seeding the demo bank (customers, balances, three months of history)..."):
        logins = seed_demo(db, now_ns=SystemClock().now_ns(), days=days)
    table = Table(title=f"Demo logins ({db})")
    for column in ("who", "login", "password", "what"):
        table.add_column(column)
    for login in logins:
        table.add_row(login.who, login.login, login.password, login.detail)
    console.print(table)
    console.print(
        "SMS codes are not sent anywhere in the demo: they are printed in this log.\n"
        f"API on [bold]http://{host}:{port}[/bold] — interactive docs at http://{host}:{port}/docs"
    )
    container = build_container(Settings(database_url=f"sqlite:///{db}", sms_sender="logging"))
    uvicorn.run(app_with_jobs(container), host=host, port=port, log_level="info")


@ledger_app.command("demo")
def ledger_demo(
    db: Annotated[Path, typer.Option(help="SQLite file to (re)create")] = Path("pocketbank-ledger-demo.db"),
) -> None:
    """The ledger on its own: transfers with a fee leg, a safe retry, a refused overdraft, two-phase holds."""
    if not run_demo(db, console):
        raise typer.Exit(1)


@ledger_app.command()
def verify() -> None:
    """Check per-ledger debits = credits and every account's counters against its transfers."""
    with build_container() as container:
        report = container.ledger.verify()
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
    with build_container() as container:
        while True:
            expired = container.ledger.expire_pending()
            if expired or not loop:
                console.print(f"expired {expired} pending transfer(s)")
            if not loop:
                return
            time.sleep(interval)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the tables, or migrate a database made by an earlier release (every worker also does it at start)."""
    from pocketbank.config import Settings
    from pocketbank.storage.engine import create_schema
    from pocketbank.storage.migrate import head_revision

    create_schema(Settings().database_url)
    console.print(f"schema at revision {head_revision()}")


@db_app.command("revision")
def db_revision(
    message: Annotated[str, typer.Argument(help="What the revision changes, e.g. 'add payee nicknames'")],
) -> None:
    """Write an empty schema revision after the current head, in a source checkout's storage/migrations/versions."""
    from pocketbank.storage.migrate import new_revision

    console.print(f"wrote {new_revision(message)}")


@outbox_app.command("relay")
def outbox_relay(
    once: Annotated[bool, typer.Option(help="Relay what is in the outbox now, then exit")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between passes without --once")] = 1.0,
) -> None:
    """Publish undispatched events to NATS JetStream (POCKETBANK_NATS_URL); `serve` does this in every worker."""
    with build_container() as container:
        if container.relay is None:
            console.print("[red]POCKETBANK_NATS_URL is not set: there is nowhere to relay to[/red]")
            raise typer.Exit(2)
        while True:
            result = container.relay.drain(max_batches=1_000_000 if once else 20)
            if result.published or result.failed or once:
                console.print(f"published {result.published} of {result.claimed} event(s)")
            if once:
                if result.failed:
                    raise typer.Exit(1)
                return
            time.sleep(interval)


@app.command()
def housekeeping() -> None:
    """Delete expired idempotency keys and long-published outbox events once (`serve` runs it every 5 minutes)."""
    with build_container() as container:
        done = container.housekeeping.run_once()
        console.print(
            f"deleted {done.idempotency_keys} idempotency key(s) and {done.outbox_events} published outbox event(s)"
        )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=32, help="uvicorn worker processes")] = 1,
) -> None:
    """Serve the API (and its background jobs) on POCKETBANK_DATABASE_URL: SQLite or PostgreSQL."""
    import uvicorn

    uvicorn.run(
        "pocketbank.api.main:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


@app.command("new-data-key")
def new_data_key(key_id: Annotated[str, typer.Argument(help="A name for the key, e.g. 2026-07")]) -> None:
    """Print a fresh key_id:key entry for POCKETBANK_DATA_KEYS (put it first to seal with it; keep the old ones)."""
    from pocketbank.integrations.secretbox import new_key_entry

    try:
        console.print(new_key_entry(key_id), soft_wrap=True, highlight=False)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


@app.command("reseal-totp")
def reseal_totp(
    adopt_plaintext: Annotated[
        bool, typer.Option(help="Also seal legacy rows stored in the clear (once, after upgrading an old database)")
    ] = False,
) -> None:
    """Re-seal every TOTP seed under the current data key, so that an older key can be retired."""
    with build_container() as container:
        report = container.auth.reseal_totp_secrets(adopt_plaintext=adopt_plaintext)
    console.print(f"re-sealed {report.resealed} TOTP seed(s); {report.unreadable} could not be opened")
    if report.unreadable:
        raise typer.Exit(1)
