"""The lines of an export as native events (or MailerPath events, or Segment calls), each with
a stable key. Pure logic, no I/O past reading the file.

A line's key is derived from its position and its content (``import-<line>-<hash>``) unless
the line carries its own ``idempotency_key``: running the same file again, or an export of
the same history that grew at its end, sends no event twice, while two identical lines are
two events (a visitor may view one page twice in a second). Nothing of a line is changed
silently: ``is_syncing`` is set to true where it is absent (the import is backfill: stored,
never triggering), and a line that says ``"is_syncing": false`` is refused with the reason.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, NamedTuple

import orjson

Format = Literal["jsonl", "csv"]
# Columns of a CSV export that are event fields; others are properties (``properties.x`` or a
# bare ``x``), and a ``properties`` column holds a JSON object.
CSV_FIELDS = frozenset(
    {"name", "email", "user_id", "contact_id", "event_type", "occurred_at", "value",
     "idempotency_key", "is_syncing"}
)  # fmt: skip
PROPERTY_PREFIX = "properties."


class Line(NamedTuple):
    """One line (one CSV record) of the export: the event to send, or why it cannot be. (A
    tuple: a frozen dataclass's constructor was 5 % of an import's own time.)"""

    number: int  # 1-based; a CSV header is line 1
    event: dict[str, Any] | None
    error: str | None = None


def format_of(path: Path, given: str | None) -> Format:
    """The export's format: as given, else from the file's suffix."""
    chosen = (given or path.suffix.lstrip(".")).lower()
    if chosen in ("jsonl", "ndjson", "json"):
        return "jsonl"
    if chosen == "csv":
        return "csv"
    raise ValueError(f"cannot tell the format of {path.name}: pass --format jsonl or --format csv")


def read(path: Path, fmt: Format, skip: int = 0, dialect: str = "native") -> Iterator[Line]:
    """The export's lines after the first ``skip`` (a resumed import), in order. ``dialect``
    ``segment``: each line a Segment call, as Segment's exports hold them; ``mailerpath``:
    each line (or CSV record) a MailerPath event, named by its ``event_type``."""
    if dialect == "segment":
        if fmt != "jsonl":
            raise ValueError("a Segment export is JSON lines: pass --format jsonl")
        return _jsonl(path, _segment_call, skip)
    if fmt == "jsonl":
        return _jsonl(path, _backfill, skip)
    return _csv(path, "event_type" if dialect == "mailerpath" else "name", skip)


def _jsonl(path: Path, make: Callable[[int, Any, bytes], Line], skip: int) -> Iterator[Line]:
    with open(path, "rb") as export:
        for number, raw in enumerate(export, start=1):
            if number <= skip:  # answered for before: not even decoded again
                continue
            text = raw.strip()
            if not text:
                yield Line(number, None, "empty line")
                continue
            try:
                data = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                yield Line(number, None, f"not JSON: {exc}")
                continue
            yield make(number, data, text)


def _csv(path: Path, named_by: str, skip: int) -> Iterator[Line]:
    with open(path, newline="", encoding="utf-8-sig") as export:
        reader = csv.DictReader(export)
        if not reader.fieldnames or named_by not in reader.fieldnames:
            raise ValueError(
                f"{path.name}: the first line must name the columns, {named_by!r} among them"
            )
        for index, row in enumerate(reader):
            if index < skip:  # answered for before
                continue
            number = reader.line_num
            if None in row:
                yield Line(number, None, f"{len(row[None])} more cells than columns")
                continue
            try:
                event = event_of_row(row)
            except ValueError as exc:
                yield Line(number, None, str(exc))
                continue
            yield _backfill(number, event, _row_text(row))


def event_of_row(row: dict[str, str]) -> dict[str, Any]:
    """A CSV record as a native event: empty cells are absent, other columns properties."""
    event: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    for column, cell in row.items():
        if cell is None or cell == "":
            continue
        if column == "properties":
            try:
                whole = orjson.loads(cell)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"properties: not a JSON object ({exc})") from None
            if not isinstance(whole, dict):
                raise ValueError("properties: not a JSON object")
            properties.update(whole)
        elif column in CSV_FIELDS:
            event[column] = _cell(column, cell)
        else:
            key = column.removeprefix(PROPERTY_PREFIX)
            properties[key] = cell
    if properties:
        event["properties"] = properties
    return event


def _cell(column: str, cell: str) -> Any:
    """Typed where the native API types the field; left as text (and refused by the gateway
    with the field named) where it does not read as that type."""
    if column == "value":
        try:
            return float(cell)
        except ValueError:
            return cell
    if column == "is_syncing":
        return {"true": True, "false": False}.get(cell.strip().lower(), cell)
    return cell


def _row_text(row: dict[str, str]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow(row.values())
    return out.getvalue().encode()


def _backfill(number: int, data: Any, text: bytes) -> Line:
    if not isinstance(data, dict):
        return Line(number, None, "not a JSON object")
    if data.get("is_syncing") is False:
        return Line(
            number, None,
            "is_syncing: false, but an import is backfill (stored, never triggering); send "
            "live events to POST /v1/events",
        )  # fmt: skip
    data.setdefault("is_syncing", True)  # data is this line's own, decoded here
    if not data.get("idempotency_key"):
        data["idempotency_key"] = line_key(number, text)
    return Line(number, data)


def _segment_call(number: int, data: Any, text: bytes) -> Line:
    """A Segment call as exported; one without a ``messageId`` gets the line's stable key as
    its ``messageId`` (Segment's idempotency key). Backfill is asked of the route, so the
    call itself is sent as it is."""
    if not isinstance(data, dict):
        return Line(number, None, "not a JSON object")
    if data.get("messageId"):
        return Line(number, data)
    return Line(number, {**data, "messageId": line_key(number, text)})


def line_key(number: int, text: bytes) -> str:
    """The stable key of a line without its own: its position and a hash of its content."""
    return f"import-{number}-{hashlib.sha256(text).hexdigest()[:24]}"
