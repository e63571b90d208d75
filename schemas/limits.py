"""Bounds on every field of an incoming record, whoever wrote it. Pure.

The gateway refuses input past them (400 or 413, naming the field and the limit), the worker
marks a record past them that came straight from Kafka ``failed``, and the sink never offers
ClickHouse a value it would refuse. Together they keep every record and every output the
pipeline derives from it far below Kafka's message size (docs/architecture.md, "Limits").
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

# Kafka refuses a message larger than message.max.bytes (broker default 1,048,588) and
# aiokafka one larger than max_request_size (1,048,576): every output stays below this.
MAX_MESSAGE_BYTES = 1_000_000
MAX_PROPERTIES_BYTES = 64 * 1024  # an event's properties, as stored (compact JSON, UTF-8)
MAX_ATTRIBUTES_BYTES = 16 * 1024  # a contact's attributes, as stored (also once merged)
MAX_DEPTH = 32  # nesting of objects and arrays inside properties and attributes
MAX_ATTEMPT = 1000  # re-drives of one event
MAX_RULE_BYTES = 256 * 1024  # a rule's definition as stored (JSON): each version is a record

# Longest text per field, in characters.
TEXT_LIMITS: dict[str, int] = {
    "account_id": 128,
    "event_id": 255,
    "receipt_id": 255,
    "idempotency_key": 255,
    "source": 200,
    "email": 254,
    "user_id": 255,
    "contact_id": 128,
    "name": 200,
    # Shorter than a name: an account keeps up to 1,000 Emma types, and 1,000 deleted ones, in
    # one Kafka message (eventline.schemas.accounts.ledger's byte bounds are sized for this length).
    "event_type": 100,
    "route_key": 512,
}
# Texts that name or identify something: a NUL there is never meant (and breaks keys).
NO_NUL = frozenset(TEXT_LIMITS)

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)  # occurred_at
EARLIEST_RECEIPT = datetime(2000, 1, 1, tzinfo=UTC)  # received_at
# The last received_at a stored copy keeps: beyond it (or before EARLIEST_RECEIPT) a failed
# record is stored as received at EARLIEST_RECEIPT, by the worker and the sink alike, so its
# statuses land in the same row (incoming_events is partitioned by month of receipt).
LATEST_STORABLE_RECEIPT = datetime(2200, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(days=1)  # how far ahead of now a time may be (clock skew)
UNKNOWN_CONTACT_RULES = (None, "create", "fail")


@dataclass(frozen=True)
class Violation:
    """One field past its bound, and the bound it broke."""

    field: str
    reason: str


def json_depth(value: Any) -> int:
    """Nesting depth of a JSON value (a scalar is 0, ``{}`` is 1), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, Mapping):
            deepest = max(deepest, level + 1)
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            deepest = max(deepest, level + 1)
            stack.extend((v, level + 1) for v in item)
    return deepest


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any, bool]]:
    """(path, item, is_key) of every item of a JSON value, keys included, without recursion."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, Mapping):
            for key, inner in item.items():
                yield f"{where}.{key}", key, True
                stack.append((f"{where}.{key}", inner))
        elif isinstance(item, list | tuple):
            stack.extend((f"{where}[{i}]", inner) for i, inner in enumerate(item))
        else:
            yield where, item, False


def json_violations(field: str, value: Any) -> list[Violation]:
    """Depth, non-finite numbers and NUL in keys of a decoded JSON object."""
    if json_depth(value) > MAX_DEPTH:
        return [Violation(field, f"nests deeper than {MAX_DEPTH} levels")]
    found = []
    for path, item, is_key in _walk(value, field):
        if is_key and "\x00" in str(item):
            found.append(Violation(path, "a key contains a NUL character"))
        elif isinstance(item, float) and not math.isfinite(item):
            found.append(Violation(path, "must be a finite number (not NaN or Infinity)"))
        if len(found) >= 5:
            break
    return found


def text_violation(field: str, value: Any) -> Violation | None:
    """A text field too long, or with a NUL character where it names something."""
    if value is None:
        return None
    if not isinstance(value, str):
        return Violation(field, "must be a string")
    limit = TEXT_LIMITS.get(field)
    if limit is not None and len(value) > limit:
        return Violation(field, f"is longer than {limit} characters")
    if field in NO_NUL and "\x00" in value:
        return Violation(field, "contains a NUL character")
    return None


def certainly_within_json(text: Any, limit: int) -> bool:
    """Whether ``text`` is certainly a JSON object within ``limit`` bytes, MAX_DEPTH levels,
    with finite numbers and no NUL in a key: the cheap test of a record that is obviously in
    bounds (no walk of the value). False only means that the full test must decide."""
    if text == "{}":
        return limit >= 2  # the most common value of all (no attributes, no properties)
    if type(text) is not str or len(text) * 4 > limit:  # UTF-8: at most 4 bytes a character
        return False
    # Each level of nesting opens with a bracket; a NUL in a key is written \u0000 (a raw
    # control character is not JSON).
    if text.count("{") + text.count("[") > MAX_DEPTH or "\\u0000" in text or "\x00" in text:
        return False
    try:
        # orjson accepts less than json: no NaN, Infinity or numbers past a double's range
        # (json reads those as non-finite floats), so what it parses has finite numbers only.
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return type(parsed) is dict


def _json_field_violations(record: Mapping[str, Any], field: str, limit: int) -> list[Violation]:
    text = record.get(field) or "{}"
    if certainly_within_json(text, limit):
        return []
    if len(text.encode("utf-8", "surrogatepass")) > limit:
        return [Violation(field, f"is larger than {limit} bytes as JSON")]
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return [Violation(field, f"is not valid JSON: {exc}")]
    if not isinstance(parsed, dict):
        return [Violation(field, "must be a JSON object")]
    return json_violations(field, parsed)


def _time_violations(
    record: Mapping[str, Any], now: datetime, ahead: bool = True
) -> list[Violation]:
    found = []
    received, occurred = record.get("received_at"), record.get("occurred_at")
    latest_receipt = now + MAX_FUTURE if ahead else LATEST_STORABLE_RECEIPT
    if not isinstance(received, datetime):
        found.append(Violation("received_at", "is required"))
    elif not EARLIEST_RECEIPT <= received <= latest_receipt:
        found.append(
            Violation("received_at", f"must be between {EARLIEST_RECEIPT:%Y-%m-%d} and a day ahead")
        )
    if isinstance(occurred, datetime):
        latest = (received if isinstance(received, datetime) else now) + MAX_FUTURE
        if occurred < EARLIEST:
            found.append(Violation("occurred_at", "is before 1970-01-01"))
        elif occurred > latest:
            found.append(Violation("occurred_at", "is more than a day in the future"))
    return found


def record_violations(
    record: Mapping[str, Any], now: datetime, *, ahead: bool = True
) -> list[Violation]:
    """Every bound a decoded incoming record breaks (empty when it is within all of them).

    ``ahead=False`` skips the test of received_at against ``now`` (a process whose clock may
    not be the deployment's, such as a sink that does not follow an adjustable clock)."""
    found = [v for f in TEXT_LIMITS if (v := text_violation(f, record.get(f))) is not None]
    found += _json_field_violations(record, "properties_json", MAX_PROPERTIES_BYTES)
    found += _json_field_violations(record, "attributes_json", MAX_ATTRIBUTES_BYTES)
    found += _time_violations(record, now, ahead)
    value = record.get("value")
    if isinstance(value, float) and not math.isfinite(value):
        found.append(Violation("value", "must be a finite number (not NaN or Infinity)"))
    attempt = record.get("attempt", 0)
    if not isinstance(attempt, int) or not 0 <= attempt <= MAX_ATTEMPT:
        found.append(Violation("attempt", f"must be between 0 and {MAX_ATTEMPT}"))
    if record.get("unknown_contact") not in UNKNOWN_CONTACT_RULES:
        found.append(Violation("unknown_contact", "must be 'create', 'fail' or null"))
    return found


def _epoch_ms(at: datetime) -> int:
    return (at - EARLIEST) // timedelta(milliseconds=1)


# The time bounds as epoch milliseconds, the form of a record decoded with raw times.
EARLIEST_MS = _epoch_ms(EARLIEST)
EARLIEST_RECEIPT_MS = _epoch_ms(EARLIEST_RECEIPT)
LATEST_STORABLE_RECEIPT_MS = _epoch_ms(LATEST_STORABLE_RECEIPT)
MAX_FUTURE_MS = MAX_FUTURE // timedelta(milliseconds=1)
_TEXT_ITEMS = tuple(TEXT_LIMITS.items())


def certainly_storable(record: Mapping[str, Any]) -> bool:
    """Whether an incoming record whose times are epoch milliseconds (decoded with
    ``Codec.decode(..., raw_times=True)``) is certainly within every bound that
    ``record_violations(..., ahead=False)`` tests: the cheap test for a sink, no JSON walk.
    False only means that record_violations must decide, with the times as datetimes."""
    received, occurred = record.get("received_at"), record.get("occurred_at")
    if type(received) is not int or not (
        EARLIEST_RECEIPT_MS <= received <= LATEST_STORABLE_RECEIPT_MS
    ):
        return False
    if occurred is not None and (
        type(occurred) is not int or not EARLIEST_MS <= occurred <= received + MAX_FUTURE_MS
    ):
        return False
    return _certainly_within_but_times(record)


def certainly_within(record: Mapping[str, Any], now: datetime) -> bool:
    """Whether a record (times as aware datetimes) is certainly within every bound that
    ``record_violations(record, now)`` tests: the cheap test for the gateway, no JSON walk.
    False only means that record_violations must decide."""
    received, occurred = record.get("received_at"), record.get("occurred_at")
    if type(received) is not datetime or received.tzinfo is None or now.tzinfo is None:
        return False
    if not EARLIEST_RECEIPT <= received <= now + MAX_FUTURE:
        return False
    if occurred is not None and (
        type(occurred) is not datetime
        or occurred.tzinfo is None
        or not EARLIEST <= occurred <= received + MAX_FUTURE
    ):
        return False
    return _certainly_within_but_times(record)


def _certainly_within_but_times(record: Mapping[str, Any]) -> bool:
    for field, limit in _TEXT_ITEMS:
        text = record.get(field)
        if text is not None and (type(text) is not str or len(text) > limit or "\x00" in text):
            return False
    value, attempt = record.get("value"), record.get("attempt", 0)
    if value is not None and (type(value) is not float or not math.isfinite(value)):
        return False
    if type(attempt) is not int or not 0 <= attempt <= MAX_ATTEMPT:
        return False
    if record.get("unknown_contact") not in UNKNOWN_CONTACT_RULES:
        return False
    return certainly_within_json(
        record.get("properties_json") or "{}", MAX_PROPERTIES_BYTES
    ) and certainly_within_json(record.get("attributes_json") or "{}", MAX_ATTRIBUTES_BYTES)


def storable(record: Mapping[str, Any], now: datetime, *, ahead: bool = True) -> dict[str, Any]:
    """A copy of ``record`` that every topic and table accepts: each field past its bound is
    replaced by an empty value. Only for a record that is reported ``failed`` with the reasons
    (``record_violations``), so nothing is changed silently."""
    out = dict(record)
    for violation in record_violations(record, now, ahead=ahead):
        field = violation.field.split(".", 1)[0].split("[", 1)[0]
        if field in ("properties_json", "attributes_json"):
            out[field] = "{}"
        elif field == "received_at":
            received = record.get(field)
            keep = isinstance(received, datetime) and (
                EARLIEST_RECEIPT <= received <= LATEST_STORABLE_RECEIPT
            )
            out[field] = received if keep else EARLIEST_RECEIPT
        elif field == "attempt":
            out[field] = 0
        elif field in ("occurred_at", "value", "unknown_contact"):
            out[field] = None
        elif field in TEXT_LIMITS:
            text = record.get(field)
            cut = str(text).replace("\x00", "")[: TEXT_LIMITS[field]] if text else text
            out[field] = cut if cut or field not in _REQUIRED_TEXT else "invalid"
    return out


_REQUIRED_TEXT = frozenset({"account_id", "event_id", "receipt_id", "source"})
EMPTIED = "emptied_fields"  # the key of ``emptied_excerpt``'s object
EXCERPT_CHARS = 512


def emptied_excerpt(record: Mapping[str, Any], now: datetime, *, ahead: bool = True) -> str | None:
    """What ``storable`` empties, as a JSON object ``{"emptied_fields": {field: the start of
    its value}}`` (kept with the failed status, so the value is not lost from sight), or None
    when the record is within every bound."""
    fields = {
        v.field.split(".", 1)[0].split("[", 1)[0]
        for v in record_violations(record, now, ahead=ahead)
    }
    if not fields:
        return None
    excerpts = {f: str(record.get(f))[:EXCERPT_CHARS] for f in sorted(fields)}
    return json.dumps({EMPTIED: excerpts}, ensure_ascii=False)
