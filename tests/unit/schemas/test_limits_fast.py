"""The cheap tests of eventline.schemas.limits (certainly_within_json, certainly_storable,
certainly_within): they never pass what the full test refuses, and they pass the plain records
a pipeline carries."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventline.schemas.limits import (
    EARLIEST,
    EARLIEST_RECEIPT,
    LATEST_STORABLE_RECEIPT,
    MAX_ATTEMPT,
    MAX_DEPTH,
    MAX_FUTURE,
    MAX_PROPERTIES_BYTES,
    TEXT_LIMITS,
    certainly_storable,
    certainly_within,
    certainly_within_json,
    json_violations,
    record_violations,
)
from tests.unit.schemas.test_limits import NOW, nested, record

LIMIT = 1000


def exact_json_ok(text: str, limit: int) -> bool:
    """The full test, as record_violations made it before the cheap one (the oracle)."""
    if len(text.encode("utf-8", "surrogatepass")) > limit:
        return False
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(parsed, dict) and not json_violations("f", parsed)


TRICKY = [
    "{}",
    ' {"a": 1} ',
    '{"a": NaN}',
    '{"a": Infinity}',
    '{"a": -Infinity}',
    '{"a": 1e400}',
    '{"a": -1e309}',
    '{"a": 1.7976931348623158e308}',
    '{"a": 1.797693134862315808e308}',
    '{"a": 1e-400}',
    '{"a": 123456789012345678901234567890}',
    '{"a\\u0000": 1}',
    '{"a": "\\u0000"}',
    '{"a\x00": 1}',
    '{"a": "\\ud800"}',
    '{"a": 1}x',
    "[1]",
    '"text"',
    "1",
    "{",
    "",
    "\ufeff{}",
    '{"é": "ü"}',
    '{"a": "' + "é" * 300 + '"}',
    '{"a": "' + "x" * 990 + '"}',
    json.dumps(nested(MAX_DEPTH)),
    json.dumps(nested(MAX_DEPTH + 1)),
    '{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}',
    '{"a": [1, 2, {"b": null, "c": true, "d": -0.0}]}',
]


@pytest.mark.parametrize("text", TRICKY)
def test_cheap_json_test_never_passes_what_the_full_test_refuses(text: str) -> None:
    if certainly_within_json(text, LIMIT):
        assert exact_json_ok(text, LIMIT), text


def test_cheap_json_test_passes_plain_objects() -> None:
    for text in ("{}", '{"sku": "SKU-1", "price": 19.9, "tags": ["a", "b"], "n": null}'):
        assert certainly_within_json(text, LIMIT)
    assert certainly_within_json(json.dumps(nested(MAX_DEPTH - 1)), LIMIT)


PIECES = ['{"', '"', ":", ",", "}", "[", "]", "{", "1", "-0", "1e308", "1e309", "NaN"]
PIECES += ["Infinity", "\\u0000", "\\ud800", "\x00", "é", "true", "null", " ", "a", "\\"]
JSON_PIECES = st.sampled_from([*PIECES, "0.5e-3", "1" * 30])


@settings(max_examples=1000, deadline=None)
@given(st.lists(JSON_PIECES, max_size=40).map("".join))
def test_cheap_json_test_is_sound_on_random_texts(text: str) -> None:
    if certainly_within_json(text, LIMIT):
        assert exact_json_ok(text, LIMIT), text


def ms(at: datetime) -> int:
    return (at - EARLIEST) // timedelta(milliseconds=1)


def as_raw(rec: dict[str, Any]) -> dict[str, Any]:
    """The record as the sink decodes it: times as epoch milliseconds."""
    return {k: ms(v) if isinstance(v, datetime) else v for k, v in rec.items()}


def test_a_plain_record_is_certainly_storable() -> None:
    props = json.dumps({"sku": "SKU-1", "price": 19.9, "page": "/p/1"})
    assert certainly_storable(as_raw(record(properties_json=props, unknown_contact=None)))


EDGES: list[dict[str, Any]] = [
    {"received_at": EARLIEST_RECEIPT},
    {"received_at": EARLIEST_RECEIPT - timedelta(milliseconds=1)},
    {"received_at": LATEST_STORABLE_RECEIPT},
    {"received_at": LATEST_STORABLE_RECEIPT + timedelta(milliseconds=1)},
    {"received_at": None},
    {"occurred_at": EARLIEST},
    {"occurred_at": EARLIEST - timedelta(milliseconds=1)},
    {"occurred_at": NOW + MAX_FUTURE},
    {"occurred_at": NOW + MAX_FUTURE + timedelta(milliseconds=1)},
    {"occurred_at": None},
    {"attempt": 0},
    {"attempt": MAX_ATTEMPT},
    {"attempt": MAX_ATTEMPT + 1},
    {"attempt": -1},
    {"value": None},
    {"value": float("nan")},
    {"value": float("-inf")},
    {"value": 0.0},
    {"unknown_contact": "fail"},
    {"unknown_contact": "sometimes"},
    {"properties_json": json.dumps({"x": "y" * MAX_PROPERTIES_BYTES})},
    {"properties_json": '{"a": NaN}'},
    {"attributes_json": "[]"},
    {"attributes_json": ""},
    *({f: "x" * TEXT_LIMITS[f]} for f in TEXT_LIMITS),
    *({f: "x" * (TEXT_LIMITS[f] + 1)} for f in TEXT_LIMITS),
    *({f: "a\x00b"} for f in TEXT_LIMITS),
]


@pytest.mark.parametrize("fields", EDGES, ids=lambda f: str(f)[:60])
def test_cheap_record_test_agrees_with_the_full_test_on_every_edge(fields: dict[str, Any]) -> None:
    rec = record(**fields)
    full = record_violations(rec, NOW, ahead=False) == []
    cheap = certainly_storable(as_raw(rec))
    assert not cheap or full  # sound
    if "received_at" not in fields or fields["received_at"] is not None:
        assert cheap == full  # and no needless detour on these edges


FIELD_VALUES: dict[str, Any] = {
    "received_at": st.sampled_from([NOW, EARLIEST_RECEIPT, LATEST_STORABLE_RECEIPT]).flatmap(
        lambda at: st.integers(-2, 2).map(lambda d: at + timedelta(milliseconds=d))
    ),
    "occurred_at": st.none()
    | st.sampled_from([NOW + MAX_FUTURE, EARLIEST, NOW]).flatmap(
        lambda at: st.integers(-2, 2).map(lambda d: at + timedelta(milliseconds=d))
    ),
    "value": st.none() | st.floats(allow_nan=True, allow_infinity=True),
    "attempt": st.integers(-2, MAX_ATTEMPT + 2),
    "unknown_contact": st.sampled_from([None, "create", "fail", "other", ""]),
    "properties_json": st.lists(JSON_PIECES, max_size=20).map("".join) | st.just("{}"),
    "name": st.text(max_size=210),
    "email": st.none() | st.text(max_size=260),
}


@settings(max_examples=1000, deadline=None)
@given(st.fixed_dictionaries({}, optional=FIELD_VALUES))
def test_cheap_record_test_is_sound_on_random_records(fields: dict[str, Any]) -> None:
    rec = record(**fields)
    if certainly_storable(as_raw(rec)):
        assert record_violations(rec, NOW, ahead=False) == [], fields


def test_the_epoch_millisecond_bounds_are_whole_milliseconds() -> None:
    for at in (EARLIEST, EARLIEST_RECEIPT, LATEST_STORABLE_RECEIPT):
        assert at.microsecond % 1000 == 0 and at.tzinfo is UTC
    assert math.isclose(MAX_FUTURE.total_seconds() * 1000, MAX_FUTURE // timedelta(milliseconds=1))


def test_a_plain_record_is_certainly_within() -> None:
    props = json.dumps({"sku": "SKU-1", "price": 19.9, "page": "/p/1"})
    assert certainly_within(record(properties_json=props, unknown_contact=None), NOW)


AHEAD_EDGES: list[dict[str, Any]] = [
    *EDGES,
    {"received_at": NOW + MAX_FUTURE},
    {"received_at": NOW + MAX_FUTURE + timedelta(milliseconds=1)},
    {"received_at": NOW.replace(tzinfo=None)},
    {"occurred_at": NOW.replace(tzinfo=None)},
    {"occurred_at": ms(NOW)},
    {"value": 1},
    {"attempt": True},
]


@pytest.mark.parametrize("fields", AHEAD_EDGES, ids=lambda f: str(f)[:60])
def test_cheap_gateway_test_agrees_with_the_full_test_on_every_edge(fields: dict[str, Any]) -> None:
    rec = record(**fields)
    try:
        full: Any = record_violations(rec, NOW) == []
    except TypeError:  # naive and aware times compared: the full test raises, as it did
        full = TypeError
    assert not certainly_within(rec, NOW) or full is True


@settings(max_examples=1000, deadline=None)
@given(st.fixed_dictionaries({}, optional=FIELD_VALUES), st.integers(-3, 3))
def test_cheap_gateway_test_is_sound_on_random_records(fields: dict[str, Any], days: int) -> None:
    rec = record(**fields)
    now = NOW + timedelta(days=days)
    if certainly_within(rec, now):
        assert record_violations(rec, now) == [], fields
