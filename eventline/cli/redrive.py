"""``eventline redrive --status failed [--since]``: re-drive every failed event, with progress."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from eventline.cli.gateway_options import Account, InFlight, Key, Url, gateway_url
from eventline.cli.progress_bar import progress_bar
from eventline.core.settings import get_settings
from eventline.producers.redrive import Redriver, RedriveStopped

_AGO = re.compile(r"(\d+)([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def since_time(text: str, now: datetime) -> datetime:
    """``--since``: an ISO-8601 time (UTC when it has no offset) or an age: 30m, 6h, 7d."""
    ago = _AGO.fullmatch(text.strip())
    if ago:
        return now - timedelta(**{_UNITS[ago.group(2)]: int(ago.group(1))})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            "an ISO-8601 time (2026-11-30T14:00) or an age (30m, 6h, 7d)", param_hint="--since"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def redrive(
    status: Annotated[
        str, typer.Option(help="Which events: only failed ones can be re-driven.")
    ] = "failed",
    since: Annotated[
        str | None, typer.Option(help="Only those that failed since: ISO-8601 time or 30m/6h/7d.")
    ] = None,
    key: Key = None,
    account: Account = None,
    url: Url = None,
    in_flight: InFlight = 8,
) -> None:
    """Send every failed event through the pipeline again, once its cause is fixed.

    Lists the account's failed events (GET /v1/incoming?status=failed), then re-drives each
    (POST /v1/events/{id}/redrive). Run it again to go on: a re-driven event leaves the
    failed list once its new attempt is recorded.
    """
    if status != "failed":
        raise typer.BadParameter("only failed events can be re-driven", param_hint="--status")
    settings = get_settings()
    after = since_time(since, datetime.now(UTC)) if since else None
    gateway = gateway_url(url, settings)
    redriver = Redriver(gateway, key, account=account, in_flight=in_flight)
    try:
        event_ids = asyncio.run(redriver.failed(after))
        when = f" since {after.isoformat(timespec='seconds')}" if after else ""
        typer.echo(f"{len(event_ids)} failed events{when}")
        with progress_bar("events") as progress:
            task = progress.add_task("re-driving", total=len(event_ids))
            outcome = asyncio.run(redriver.redrive(event_ids, lambda n: progress.advance(task, n)))
    except RedriveStopped as exc:
        typer.echo(f"eventline: re-drive stopped: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{outcome.redriven} events re-driven, {outcome.refused} refused by the gateway")
    for reason, count in outcome.reasons.most_common(10):
        typer.echo(f"  {count:>8} x {reason} (e.g. {', '.join(outcome.examples[reason])})")
