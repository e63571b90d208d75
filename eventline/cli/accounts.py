"""``eventline accounts`` and ``eventline keys``: manage tenants and API keys straight on
Kafka (the accounts topic), so they work whether or not a gateway runs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer

from eventline.core.settings import get_settings

accounts_app = typer.Typer(pretty_exceptions_enable=False, help="Accounts (tenants).")
keys_app = typer.Typer(pretty_exceptions_enable=False, help="API keys of an account.")
T = TypeVar("T")


@contextmanager
def on_kafka(service: Callable[[Any, Any], Any]) -> Iterator[Any]:
    """``service(settings, writer)`` (Accounts, RuleCatalog) started on its compacted topic,
    read whole, for one command; a clear message and exit 2 when Kafka does not answer."""
    from eventline.core.errors import TransientError
    from eventline.core.kafka import KafkaWriter
    from eventline.core.topics import ensure_topics
    from eventline.schemas.clock_topic import follow_clock

    settings = get_settings()
    try:
        ensure_topics(settings, timeout_s=10)
    except Exception as exc:
        typer.echo(f"Kafka at {settings.bootstrap()} does not answer ({exc}); is it up?", err=True)
        raise typer.Exit(2) from None
    clock = follow_clock(settings, announce=False)  # entries are stamped with the deployment's time
    writer = KafkaWriter(settings.bootstrap(), timeout_s=settings.produce_timeout_s)
    running = service(settings, writer)
    try:
        running.start()
        yield running
    except TransientError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    finally:
        running.stop()
        writer.close()
        if clock is not None:
            clock.stop()


def _accounts() -> Any:
    from eventline.schemas.accounts.service import Accounts

    return on_kafka(Accounts)


def run_call(call: Callable[[], Awaitable[T]]) -> T:
    from eventline.schemas.accounts.service import AccountConflict

    try:
        return asyncio.run(_awaited(call))
    except (AccountConflict, LookupError, ValueError) as exc:
        typer.echo(f"error: {exc.args[0]}", err=True)
        raise typer.Exit(1) from None


async def _awaited(call: Callable[[], Awaitable[T]]) -> T:
    return await call()


def show_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    widths = [max([len(c)] + [len(str(r.get(c))) for r in rows]) for c in columns]
    typer.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        typer.echo(
            "  ".join(str(row.get(c)).ljust(w) for c, w in zip(columns, widths, strict=True))
        )


ACCOUNT_COLUMNS = ["account_id", "name", "number", "enabled", "created_at"]
KEY_COLUMNS = ["key_id", "label", "key_hint", "shape", "enabled", "created_at"]


@accounts_app.command("create")
def create_account(account_id: str, name: str = typer.Option("", help="Display name.")) -> None:
    """Create an account."""
    from eventline.schemas.accounts.registry import account_view

    with _accounts() as accounts:
        entry = run_call(lambda: accounts.create_account(account_id, name))
    show_table([account_view(entry)], ACCOUNT_COLUMNS)


@accounts_app.command("list")
def list_accounts() -> None:
    """List the accounts."""
    from eventline.schemas.accounts.registry import account_view

    with _accounts() as accounts:
        show_table([account_view(a) for a in accounts.accounts()], ACCOUNT_COLUMNS)


@accounts_app.command("enable")
def enable_account(account_id: str) -> None:
    """Enable an account."""
    _set_account(account_id, True)


@accounts_app.command("disable")
def disable_account(account_id: str) -> None:
    """Disable an account: its keys are refused (403)."""
    _set_account(account_id, False)


def _set_account(account_id: str, on: bool) -> None:
    from eventline.schemas.accounts.registry import ACCOUNT, account_view

    with _accounts() as accounts:
        entry = run_call(lambda: accounts.set_enabled(ACCOUNT, account_id, account_id, on))
    show_table([account_view(entry)], ACCOUNT_COLUMNS)


@keys_app.command("create")
def create_key(
    account_id: str,
    label: str = typer.Option("", help="What uses the key."),
    shape: str = typer.Option(
        "eventline",
        help="eventline (el_<id>_<secret>) or mailchimp (32 hex digits, a dash, more secret: "
        "for SDKs that check the key's shape, such as mailchimp3).",
    ),
) -> None:
    """Create an API key and print it: it is shown this once."""
    from eventline.schemas.accounts.registry import SHAPES

    if shape not in SHAPES:
        raise typer.BadParameter(f"one of {', '.join(SHAPES)}", param_hint="--shape")
    with _accounts() as accounts:
        entry, key = run_call(lambda: accounts.create_key(account_id, label, shape))
    typer.echo(f"key {entry['entry_id']} of account {account_id} (shown once, keep it):")
    typer.echo(key)


@keys_app.command("list")
def list_keys(account_id: str) -> None:
    """List an account's keys (a hint of each, never the key)."""
    from eventline.schemas.accounts.registry import key_view

    with _accounts() as accounts:
        try:
            keys = accounts.keys_of(account_id)
        except LookupError as exc:
            typer.echo(f"error: {exc.args[0]}", err=True)
            raise typer.Exit(1) from None
        show_table([key_view(k) for k in keys], KEY_COLUMNS)


@keys_app.command("enable")
def enable_key(account_id: str, key_id: str) -> None:
    """Enable a key."""
    _set_key(account_id, key_id, True)


@keys_app.command("disable")
def disable_key(account_id: str, key_id: str) -> None:
    """Disable a key: requests with it are refused (403)."""
    _set_key(account_id, key_id, False)


def _set_key(account_id: str, key_id: str, on: bool) -> None:
    from eventline.schemas.accounts.registry import API_KEY, key_view

    with _accounts() as accounts:
        entry = run_call(lambda: accounts.set_enabled(API_KEY, account_id, key_id, on))
    show_table([key_view(entry)], KEY_COLUMNS)
