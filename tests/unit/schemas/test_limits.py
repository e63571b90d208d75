"""Bounds on incoming records (schemas/limits.py): what breaks them, and the storable copy."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from eventline.schemas.limits import (
    MAX_ATTEMPT,
    MAX_DEPTH,
    MAX_PROPERTIES_BYTES,
    json_depth,
    json_violations,
    record_violations,
    storable,
)

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def record(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": "EVENT",
        "account_id": "acme",
        "event_id": "e-1",
        "receipt_id": "r-1",
        "idempotency_key": None,
        "received_at": NOW,
        "source": "kafka",
        "email": "ada@example.com",
        "user_id": None,
        "contact_id": None,
        "name": "purchase",
        "occurred_at": NOW - timedelta(hours=1),
        "properties_json": "{}",
        "value": 1.5,
        "is_syncing": False,
        "attributes_json": "{}",
        "attempt": 0,
        "event_type": None,
    }
    return {**base, **fields}


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


def test_a_plain_record_is_within_every_bound() -> None:
    assert record_violations(record(), NOW) == []


def test_depth_is_counted_without_recursion() -> None:
    assert json_depth(1) == 0
    assert json_depth({}) == 1
    assert json_depth({"a": [1, {"b": 2}]}) == 3
    assert json_depth(nested(100_000)) == 100_000


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"properties_json": json.dumps({"x": "y" * MAX_PROPERTIES_BYTES})}, "properties_json"),
        ({"properties_json": json.dumps(nested(MAX_DEPTH + 1))}, "properties_json"),
        ({"properties_json": '{"a": NaN}'}, "properties_json.a"),
        ({"properties_json": '{"a\\u0000b": 1}'}, "properties_json.a\x00b"),
        ({"properties_json": "[1]"}, "properties_json"),
        ({"attributes_json": "{"}, "attributes_json"),
        ({"name": "n" * 201}, "name"),
        ({"user_id": "u\x00"}, "user_id"),
        ({"attempt": -1}, "attempt"),
        ({"attempt": MAX_ATTEMPT + 1}, "attempt"),
        ({"value": float("inf")}, "value"),
        ({"occurred_at": datetime(1900, 1, 1, tzinfo=UTC)}, "occurred_at"),
        ({"occurred_at": NOW + timedelta(days=2)}, "occurred_at"),
        ({"received_at": datetime(2300, 1, 1, tzinfo=UTC)}, "received_at"),
        ({"unknown_contact": "maybe"}, "unknown_contact"),
    ],
)
def test_each_bound_names_its_field(fields: dict[str, Any], field: str) -> None:
    found = record_violations(record(**fields), NOW)
    assert [v.field for v in found] == [field]


def test_nesting_at_the_limit_is_fine() -> None:
    assert json_violations("properties", nested(MAX_DEPTH)) == []


def test_storable_empties_every_field_past_its_bound_and_keeps_the_rest() -> None:
    bad = record(
        attempt=-1,
        properties_json=json.dumps(nested(MAX_DEPTH + 5)),
        occurred_at=datetime(1800, 1, 1, tzinfo=UTC),
        name="x\x00" * 150,
        value=float("nan"),
    )
    fixed = storable(bad, NOW)
    assert record_violations(fixed, NOW) == []
    assert fixed["attempt"] == 0
    assert fixed["properties_json"] == "{}"
    assert fixed["occurred_at"] is None
    assert fixed["value"] is None
    assert fixed["name"] == "x" * 150
    assert fixed["event_id"] == "e-1"
    assert fixed["email"] == "ada@example.com"


def test_a_receipt_time_out_of_range_is_stored_the_same_by_the_worker_and_the_sink() -> None:
    # incoming_events is partitioned by month of receipt: both copies must land in one row.
    far = record(received_at=datetime(2300, 1, 1, tzinfo=UTC))
    assert storable(far, NOW)["received_at"] == storable(far, NOW, ahead=False)["received_at"]
    assert storable(far, NOW)["received_at"] == datetime(2000, 1, 1, tzinfo=UTC)
    ahead = record(received_at=NOW + timedelta(days=3))  # only the worker's clock objects
    assert storable(ahead, NOW)["received_at"] == storable(ahead, NOW, ahead=False)["received_at"]
