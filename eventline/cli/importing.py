"""``eventline import FILE``: bring a history export in as backfill, with progress."""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path
from typing import Annotated

import orjson
import typer

from eventline.cli.gateway_options import Account, InFlight, Key, Url, gateway_url
from eventline.cli.progress_bar import progress_bar
from eventline.core.settings import get_settings
from eventline.producers.importer.lines import format_of, read
from eventline.producers.importer.position import Position
from eventline.producers.importer.routes import DIALECTS, route_of
from eventline.producers.importer.send import ImportStopped, Sender, Tally

SHOWN_REASONS = 10

# The position is saved at most this often (and when the import ends): a stopped import
# sends the lines of the last second again, which their keys make duplicates.
SAVE_EVERY_S = 1.0


def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL or CSV export.")],
    key: Key = None,
    account: Account = None,
    url: Url = None,
    file_format: Annotated[
        str | None, typer.Option("--format", help="jsonl or csv (default: by suffix).")
    ] = None,
    from_start: Annotated[
        bool, typer.Option(help="Ignore the saved position; send every line.")
    ] = False,
    dialect: Annotated[
        str,
        typer.Option(
            help="native; mailerpath: MailerPath events (JSONL or CSV, named by event_type); "
            "segment: a Segment export (one call per JSON line)."
        ),
    ] = "native",
    batch: Annotated[int, typer.Option(min=1, max=1000, help="Events per request.")] = 1000,
    in_flight: InFlight = 16,
) -> None:
    """Send a history export as backfill (stored, never triggering), resumable and idempotent.

    JSONL: one native event per line (the shape POST /v1/events takes). CSV: a header naming
    the columns (name, email, user_id, contact_id, occurred_at, value, event_type,
    idempotency_key; `properties` as a JSON object, any other column a property). Each line
    without an idempotency_key gets a stable one, so running the import again sends nothing
    twice; an interrupted import goes on where it stopped. --dialect mailerpath: MailerPath
    events (the shape its bulk route takes; CSV with an event_type column). --dialect segment:
    a Segment export, one call per JSON line (each call type as POST /v1/batch takes it;
    messageId kept).
    """
    if dialect not in DIALECTS:  # before --from-start forgets anything
        raise typer.BadParameter(", ".join(DIALECTS), param_hint="--dialect")
    settings = get_settings()
    fmt = format_of(file, file_format)
    position = Position.of(file, settings.home)
    if from_start:
        position.forget()
    total = _count(file, fmt)
    gateway = gateway_url(url, settings)
    if position.done:
        typer.echo(f"resuming {file.name} after line {position.done} (--from-start: all again)")
    sender = Sender(
        gateway, key, account=account, batch=batch, in_flight=in_flight,
        route=route_of(dialect),
    )  # fmt: skip
    with progress_bar("lines") as progress:
        task = progress.add_task(file.name, total=total, completed=position.done)

        done, saved_at = position.done, time.monotonic()

        def answered(count: int) -> None:
            nonlocal done, saved_at
            done += count
            _write_rejects(position, sender.tally)  # before a position that passes them
            if time.monotonic() - saved_at >= SAVE_EVERY_S:
                position.save(done)
                saved_at = time.monotonic()
            progress.update(task, completed=done)

        # An import makes a few dicts per line and keeps none: the collector's default pace
        # (every 700 allocations) cost an eighth of reading a line, finding nothing to free.
        pace = gc.get_threshold()
        gc.set_threshold(50_000, 50, 100)
        try:
            lines = read(file, fmt, skip=position.done, dialect=dialect)
            tally = asyncio.run(sender.run(lines, answered))
        except ImportStopped as exc:
            typer.echo(f"eventline: import stopped after line {done}: {exc}", err=True)
            raise typer.Exit(1) from None
        finally:  # however it ends (Ctrl-C too), the lines answered for are not sent again
            position.save(done)
            gc.set_threshold(*pace)
    _summary(tally, position)


def _count(file: Path, fmt: str) -> int:
    """Lines (records) in the export, for the bar and its ETA; a CSV's header is not one."""
    count = 0
    with open(file, "rb") as export:
        while chunk := export.read(1 << 20):
            count += chunk.count(b"\n")
    return max(0, count - 1) if fmt == "csv" else count


def _write_rejects(position: Position, tally: Tally) -> None:
    if not tally.rejected_lines:
        return
    position.rejects.parent.mkdir(parents=True, exist_ok=True)
    with open(position.rejects, "ab") as out:
        for entry in tally.rejected_lines:
            out.write(orjson.dumps(entry) + b"\n")
    tally.rejected_lines.clear()


def _summary(tally: Tally, position: Position) -> None:
    accepted = tally.accepted + tally.duplicates
    known = f" ({tally.duplicates} known to be there already)" if tally.duplicates else ""
    typer.echo(f"{accepted} lines accepted{known}, {tally.rejected} lines rejected")
    if tally.duplicates:
        typer.echo(
            "  a line imported before is stored once: the pipeline marks it duplicate "
            "(GET /v1/incoming?status=duplicate)"
        )
    for reason, count in tally.reasons.most_common(SHOWN_REASONS):
        lines = ", ".join(str(n) for n in tally.examples[reason])
        more = ", …" if count > len(tally.examples[reason]) else ""
        typer.echo(f"  {count:>8} x {reason} (lines {lines}{more})")
    if tally.rejected:
        typer.echo(f"every rejected line with its reason: {position.rejects}")
