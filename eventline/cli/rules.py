"""``eventline rules`` and ``eventline clock``: manage rules straight on Kafka (the rules
topic), whether or not a gateway runs, and move an adjustable clock forward."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from eventline.cli.accounts import on_kafka, run_call, show_table
from eventline.core.settings import get_settings

rules_app = typer.Typer(
    pretty_exceptions_enable=False, help="Tag, segment and workflow rules of an account."
)
clock_app = typer.Typer(
    pretty_exceptions_enable=False,
    help="The deployment's clock (moves only with EVENTLINE_CLOCK=adjustable).",
)
ACCOUNT = typer.Option(None, "--account", "-a", help="Account (default: the default account).")
RULE_COLUMNS = ["rule_id", "kind", "version", "updated_at", "summary"]


def _catalog() -> Any:
    from eventline.schemas.rules.catalog import RuleCatalog

    return on_kafka(RuleCatalog)


def _account(account: str | None) -> str:
    return account or get_settings().default_account


def _summary(view: dict[str, Any]) -> str:
    what = view.get("when") or view.get("condition") or {}
    text = json.dumps(what, separators=(",", ":"))
    return text if len(text) <= 60 else text[:57] + "..."


@rules_app.command("list")
def list_rules(account: str | None = ACCOUNT, kind: str | None = None) -> None:
    """List an account's rules."""
    from eventline.schemas.rules.catalog import rule_view

    with _catalog() as catalog:
        views = [rule_view(e) for e in catalog.entries(_account(account), kind)]
    show_table([{**v, "summary": _summary(v)} for v in views], RULE_COLUMNS)


@rules_app.command("show")
def show_rule(rule_id: str, account: str | None = ACCOUNT) -> None:
    """Print one rule as JSON."""
    from eventline.schemas.rules.catalog import rule_view

    with _catalog() as catalog:
        try:
            entry = catalog.entry(_account(account), rule_id)
        except LookupError as exc:
            typer.echo(f"error: {exc.args[0]}", err=True)
            raise typer.Exit(1) from None
    typer.echo(json.dumps(rule_view(entry), indent=2))


@rules_app.command("put")
def put_rule(
    rule_id: str,
    file: str = typer.Argument(..., help="JSON definition: a file, or - for standard input."),
    account: str | None = ACCOUNT,
) -> None:
    """Create or replace a rule from a JSON definition (as PUT /v1/rules/{rule_id} takes it),
    in order with every other write of it (the version printed is the one stored)."""
    from eventline.schemas.rules.catalog import RuleConflict, RuleRejected, rule_view

    text = sys.stdin.read() if file == "-" else Path(file).read_text()
    try:
        definition = json.loads(text)
    except ValueError as exc:
        typer.echo(f"error: {file} is not JSON: {exc}", err=True)
        raise typer.Exit(1) from None
    with _catalog() as catalog:
        try:
            entry, created = run_call(lambda: catalog.put(_account(account), rule_id, definition))
        except RuleRejected as exc:
            for problem in exc.problems:
                typer.echo(f"error: {problem['field']}: {problem['reason']}", err=True)
            raise typer.Exit(1) from None
        except RuleConflict as exc:
            typer.echo(f"error: {exc.reason}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"{'created' if created else 'replaced'}: {json.dumps(rule_view(entry))}")


@rules_app.command("delete")
def delete_rule(rule_id: str, account: str | None = ACCOUNT) -> None:
    """Delete a rule (it applies to no event received afterwards)."""
    with _catalog() as catalog:
        entry = run_call(lambda: catalog.delete(_account(account), rule_id))
    typer.echo(f"deleted {rule_id} (version {entry['version']})")


@clock_app.command("show")
def show_clock() -> None:
    """Print the deployment's time and how far it runs ahead of system time."""
    from datetime import timedelta

    from eventline.core.clock import CLOCK, now
    from eventline.schemas.clock_topic import follow_clock

    settings = get_settings()
    follower = follow_clock(settings, announce=False)
    if follower is not None:
        follower.stop()
    ahead = timedelta(milliseconds=CLOCK.offset_ms)
    typer.echo(f"{now().isoformat()} (clock {settings.clock}, {ahead} ahead of system time)")


@clock_app.command("advance")
def advance_clock(
    by: str = typer.Argument(..., help="How far: 90s, 15m, 2h, 8d or 1w."),
) -> None:
    """Move an adjustable clock forward: segment windows close, abandoned carts come due."""
    from datetime import timedelta

    from eventline.core.clock import parse_duration
    from eventline.schemas.clock_topic import advance

    settings = get_settings()
    if settings.clock != "adjustable":
        typer.echo(
            "error: EVENTLINE_CLOCK is 'system'; set EVENTLINE_CLOCK=adjustable for the "
            "pipeline (and this command) to use an adjustable clock",
            err=True,
        )
        raise typer.Exit(1)
    try:
        delta = parse_duration(by)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    offset = advance(settings, delta)
    typer.echo(f"the clock is now {timedelta(milliseconds=offset)} ahead of system time")
