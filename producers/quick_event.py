"""The quick path of native events decoded from a JSON body: the incoming record
``validation.parse_event`` makes, for the events whose every field is plainly valid, at a
quarter of its cost (pydantic's model, the email validator and the stdlib's JSON writer were
most of a bulk post's work).

It never refuses anything: an event it is not sure of (any field outside the plain shapes
below: a time other than plain UTC ISO-8601, text with whitespace pydantic would strip, a
number it would convert, an unknown field, no identity, ...) gets None, and ``parse_event``
decides, refusing with its own problems. An event it takes goes through the same bounds
(``within_limits``). Both paths give the same record: tests/unit/producers/test_quick_event.py
compares them on generated events.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any, Literal

import orjson

from eventline.producers.ids import random_uuid
from eventline.producers.validation import EventIn, plain_email, within_limits
from eventline.schemas.limits import (
    EARLIEST,
    EARLIEST_RECEIPT,
    MAX_DEPTH,
    MAX_FUTURE,
    MAX_PROPERTIES_BYTES,
    TEXT_LIMITS,
)
from eventline.schemas.model import EVENT, event_id_for, incoming_record

# What pydantic's str_strip_whitespace strips (Unicode's White_Space, as Rust's trim): a text
# ending in one of these is left to pydantic. A unit test checks the set on every code point.
STRIPPED = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
FIELDS = frozenset(EventIn.model_fields)
_TEXTS = ("user_id", "contact_id", "name", "event_type", "idempotency_key")


def _longest(field: str) -> int:
    """The longest text of ``field`` both the model and the record's bounds take."""
    lengths = [
        int(m.max_length) for m in EventIn.model_fields[field].metadata if hasattr(m, "max_length")
    ]
    return min([TEXT_LIMITS[field], *lengths])


LONGEST = {field: _longest(field) for field in _TEXTS}
# Exact integers as doubles: pydantic turns an integer value into the same float.
_EXACT = 2**53
# orjson writes a double as the stdlib does except where Python's repr uses a negative
# exponent ("1e-05", "1.5e-07"): orjson then writes "0.00001" or "1.5e-7". Output with either
# form anywhere (a string holding "0.0000" or "3e-" included) is written by the stdlib again.
_NOT_AS_STDLIB = re.compile(rb"0\.0000|[0-9]e-")
# A time pydantic reads as fromisoformat does (the same instant): UTC, "T", at most microseconds.
# Histories (eventline import) carry one on every event.
_UTC_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|\+00:00)")


def _text(value: Any, longest: int) -> bool:
    """Whether ``value`` is text pydantic takes as it is, within 1 to ``longest`` characters."""
    return (
        type(value) is str
        and 0 < len(value) <= longest
        and value[0] not in STRIPPED
        and value[-1] not in STRIPPED
    )


def _optional_text(value: Any, longest: int) -> bool:
    return value is None or _text(value, longest)


def _properties(value: Any) -> dict[str, Any] | None:
    """The properties as pydantic gives them (keys stripped: only when none needs it)."""
    if type(value) is not dict:
        return None
    for key in value:
        if type(key) is not str or (key and (key[0] in STRIPPED or key[-1] in STRIPPED)):
            return None
    return value


def _value(value: Any) -> float | bool | None:
    """The event's value as pydantic gives it; False when left to pydantic (and the bounds:
    NaN and infinities are not JSON, but a caller might pass them)."""
    if value is None or (type(value) is float and math.isfinite(value)):
        return value
    if type(value) is int and -_EXACT <= value <= _EXACT:
        return float(value)
    return False


def _occurred(value: Any) -> datetime | Literal[False] | None:
    """The event's time as pydantic gives it; False when left to pydantic."""
    if value is None:
        return None
    if type(value) is not str or _UTC_TIME.fullmatch(value) is None:
        return False
    try:
        return datetime.fromisoformat(value)
    except ValueError:  # no such day (2021-02-30), or year 0
        return False


def stored_json(value: dict[str, Any]) -> str:
    """``validation._stored_json`` of a value decoded from JSON (dicts, lists, text, finite
    numbers, booleans, null): the same text, by orjson when it writes what the stdlib
    writes (an integer past 64 bits and the forms above go to the stdlib)."""
    try:
        out = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        out = b""
    if out and _NOT_AS_STDLIB.search(out) is None:
        return out.decode()
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def quick_event(
    data: Any,
    *,
    account: str,
    source: str,
    received_at: datetime,
    idempotency_key: str | None = None,
    prefix: str = "",
) -> dict[str, Any] | None:
    """``parse_event(data, ...)`` of an event decoded from JSON whose fields are all plainly
    valid (raises InputRejected past a bound, as it does); None when ``parse_event`` must
    decide."""
    if type(data) is not dict or not FIELDS.issuperset(data):
        return None
    get = data.get
    texts = {field: get(field) for field in _TEXTS}
    if idempotency_key and not texts["idempotency_key"]:
        texts["idempotency_key"] = idempotency_key
    email = get("email")
    if email is not None:
        email = plain_email(email) if type(email) is str else None
        if email is None:
            return None
    properties, value = _properties(get("properties", {})), _value(get("value"))
    is_syncing = get("is_syncing", False)
    occurred = _occurred(get("occurred_at"))
    if (
        not (email or texts["user_id"] or texts["contact_id"])
        or not all(_optional_text(texts[f], LONGEST[f]) for f in _TEXTS)
        or texts["name"] is None
        or occurred is False
        or properties is None
        or value is False
        or type(is_syncing) is not bool
    ):
        return None
    key = texts["idempotency_key"]
    receipt_id = random_uuid()  # in parse_event's order: the receipt's id, then the event's
    record = incoming_record(
        kind=EVENT,
        account_id=account,
        event_id=event_id_for(account, key) if key else random_uuid(),
        receipt_id=receipt_id,
        received_at=received_at,
        source=source,
        idempotency_key=key,
        email=email.lower() if email else None,
        user_id=texts["user_id"],
        contact_id=texts["contact_id"],
        name=texts["name"],
        occurred_at=received_at if occurred is None else occurred,
        properties_json=stored_json(properties),
        value=value,
        is_syncing=is_syncing,
        event_type=texts["event_type"],
    )
    return record if _surely_within(record) else within_limits(record, prefix)


def _surely_within(record: dict[str, Any]) -> bool:
    """Whether a record made here is within every bound ``within_limits`` tests, told
    cheaply; False leaves it to ``within_limits``. Known already: the client's texts are no
    longer than their bounds (LONGEST), the email is a plain address, the ids are ours, the
    value is a finite float, the event's time is a plain UTC time (or its receipt), and the
    properties are the text of a decoded JSON object (finite numbers only)."""
    for field in _TEXTS:
        text = record[field]
        if text is not None and "\x00" in text:
            return False
    account, source = record["account_id"], record["source"]
    if len(account) > TEXT_LIMITS["account_id"] or len(source) > TEXT_LIMITS["source"]:
        return False
    if "\x00" in account or "\x00" in source:
        return False
    received = record["received_at"]
    if type(received) is not datetime or received.tzinfo is None or received < EARLIEST_RECEIPT:
        return False
    occurred = record["occurred_at"]
    if occurred is not received and not EARLIEST <= occurred <= received + MAX_FUTURE:
        return False
    text = record["properties_json"]
    # Each level of nesting opens with a bracket; a NUL in a key is written \u0000.
    return text == "{}" or (
        len(text) * 4 <= MAX_PROPERTIES_BYTES  # UTF-8: at most 4 bytes a character
        and text.count("{") + text.count("[") <= MAX_DEPTH
        and "\\u0000" not in text
    )
