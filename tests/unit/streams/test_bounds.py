"""Every output and every table value of the worker stays within Kafka's message size by
design, for the largest input the limits admit (eventline.schemas.limits): no record can make the
worker produce a message Kafka refuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from eventline.core.errors import InvalidEvent
from eventline.schemas.codec import codec
from eventline.schemas.limits import MAX_ATTRIBUTES_BYTES, MAX_MESSAGE_BYTES, MAX_PROPERTIES_BYTES
from eventline.schemas.rules.book import AccountRules
from eventline.schemas.rules.model import parse_rule
from eventline.streams.automation import STATE_MAX_BYTES, Limits, fit, on_event
from eventline.streams.canonical import apply_registration, canonical_event
from eventline.streams.messages import PERSONALIZATION_MAX_BYTES
from eventline.streams.rules.triggers import Context

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
NAME = "n" * 200
ACCOUNT = "a" * 128  # the longest event name: each property's merge tag repeats it


def _filled(limit: int, value: str) -> dict[str, str]:
    """As many properties as fit in ``limit`` bytes of JSON: the most merge tags."""
    out: dict[str, str] = {}
    size = 2
    while True:
        key = f"k{len(out)}"
        size += len(json.dumps({key: value}, ensure_ascii=False).encode())  # braces ~ ", "
        if size > limit:
            return out
        out[key] = value


def _largest_contact() -> dict[str, Any]:
    attributes = _filled(MAX_ATTRIBUTES_BYTES, 'é"')  # escapes grow once encoded again
    return {
        "account_id": ACCOUNT,
        "contact_id": "c" * 128,
        "email": "e" * 240 + "@example.com",
        "user_id": "u" * 255,
        "attributes_json": json.dumps(attributes, ensure_ascii=False),
        "created_at": 0,
        "updated_at": 0,
        "last_change_id": "x",
    }


def _largest_event(event_id: str = "e-1") -> dict[str, Any]:
    properties = _filled(MAX_PROPERTIES_BYTES, 'ü"\\')
    return {
        "event_id": event_id,
        "account_id": ACCOUNT,
        "contact_id": "c" * 128,
        "name": NAME,
        "occurred_at": NOW,
        "received_at": NOW,
        "processed_at": NOW,
        "properties": properties,
        "properties_json": json.dumps(properties, ensure_ascii=False),
        "value": 1.0,
        "is_syncing": False,
        "source": "s" * 200,
        "idempotency_key": "i" * 255,
        "event_type": "t" * 100,
    }


def _every_rule() -> AccountRules:
    rules = AccountRules()
    rules.workflows.append(
        parse_rule({"kind": "workflow", "workflow_id": "w", "when": {"name": NAME}}, ACCOUNT, "r")
    )
    return rules


def test_the_largest_trigger_fits_a_kafka_message_with_room_to_spare() -> None:
    outcome = on_event(
        _largest_contact(), _largest_event(), _every_rule(), Context(), Limits(), NOW
    )
    (trigger,) = outcome.triggers
    size = len(codec().encode("WorkflowTrigger", trigger))
    assert size < MAX_MESSAGE_BYTES // 2, size
    tags = json.loads(trigger["personalization_json"])
    assert "CONTACT:email" in tags and f"EVENT:{NAME}.k0" in tags  # the event's come first
    assert len(trigger["personalization_json"]) <= PERSONALIZATION_MAX_BYTES


def test_the_largest_canonical_event_fits() -> None:
    event = canonical_event(
        {**_largest_event(), "properties_json": _largest_event()["properties_json"]},
        _largest_contact(),
        NOW,
    )
    assert len(codec().encode("CanonicalEvent", event)) < MAX_MESSAGE_BYTES // 2


def test_a_contact_state_fed_the_largest_events_stays_within_its_budget() -> None:
    contact, rules = _largest_contact(), _every_rule()
    for i in range(40):  # more than the memo keeps
        at = NOW + timedelta(seconds=i)
        event = {**_largest_event(f"e-{i}"), "occurred_at": at}
        contact, _dropped = fit(on_event(contact, event, rules, Context(), Limits(), at).contact)
    # as the contact table writes it (eventline.streams.table): orjson, UTF-8
    assert len(orjson.dumps(contact)) <= STATE_MAX_BYTES < MAX_MESSAGE_BYTES


def test_fit_lets_the_memo_go_before_the_history() -> None:
    contact = {
        "contact_id": "c",
        "auto": {"memo": [["k", "m" * 1000]] * 10, "facts": [["e", "n", 0, None, None]] * 10},
    }
    fitted, dropped = fit(contact, budget=2000)
    assert len(orjson.dumps(fitted)) <= 2000
    assert dropped >= 9 and fitted["auto"]["facts"] == contact["auto"]["facts"]


def test_merged_attributes_past_the_bound_fail_the_registration() -> None:
    half = _filled(MAX_ATTRIBUTES_BYTES, "x" * 50)
    contact = apply_registration(
        None,
        {
            "account_id": "a",
            "contact_id": "c",
            "event_id": "r1",
            "attributes_json": json.dumps(half),
        },
        0,
    )
    more = {f"other{k}": v for k, v in half.items()}
    with pytest.raises(InvalidEvent, match="larger than 16384 bytes once merged"):
        apply_registration(
            contact,
            {
                "account_id": "a",
                "contact_id": "c",
                "event_id": "r2",
                "attributes_json": json.dumps(more),
            },
            1,
        )


def test_a_state_that_cannot_be_brought_within_budget_fails_the_record() -> None:
    contact = {"contact_id": "c", "tags": ["t" * 100] * 50, "auto": {"memo": [], "facts": []}}
    with pytest.raises(InvalidEvent, match="the contact's state would be"):
        fit(contact, budget=1000)
