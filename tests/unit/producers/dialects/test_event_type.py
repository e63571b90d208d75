"""``event_type`` per dialect: the vendor's own type where it has one, its event name where
that name is its only word for the kind of event (eventline.producers.dialects.type_from_name); and
one rule matching the same purchase sent six ways (docs/dialects.md, "The same purchase sent
five ways": its rule is read from there, so the page stays true)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from eventline.producers.dialects import (
    activecampaign,
    emma,
    mailchimp,
    mailerpath,
    segment,
    type_from_name,
)
from eventline.producers.validation import parse_event
from eventline.schemas.limits import TEXT_LIMITS
from eventline.schemas.rules.model import WorkflowRule, parse_rule
from eventline.streams.canonical import canonical_event
from eventline.streams.rules.match import event_matches
from eventline.streams.rules.triggers import Context, decide

DIALECTS = Path(__file__).resolve().parents[4] / "docs" / "dialects.md"
EMAIL = "ada@example.com"
SKU = {"sku": "MUG-1"}
WHEN = "2026-11-20T10:00:00+00:00"
AT = datetime(2026, 11, 20, 10, 0, 5, tzinfo=UTC)
EMMA_TYPES = [
    {"event_type_id": 1, "event_type": "purchase", "display_name": "Purchase", "created_at": ""}
]


def _record(native: dict[str, Any], source: str) -> dict[str, Any]:
    return parse_event(native, account="shop", source=source, received_at=AT)


def purchases() -> dict[str, dict[str, Any]]:
    """The incoming record of the same purchase sent through each API, as test_five_ways
    sends it, parsed by the dialects' own pure functions."""
    emma_native, _ = emma.to_native(
        {"email": EMAIL, "event_type": "purchase", "attributes": SKU, "event_monetary_value": 12.5},
        EMMA_TYPES,
    )
    form = {
        "actid": "1",
        "key": "k",
        "event": "purchase",
        "eventdata": json.dumps({**SKU, "value": 12.5}),
        "visit": json.dumps({"email": EMAIL}),
    }
    track = {"userId": "u-1", "event": "purchase", "properties": {**SKU, "revenue": 12.5}}
    return {
        "native": _record(
            {
                "email": EMAIL,
                "name": "purchase",
                "event_type": "purchase",
                "properties": SKU,
                "value": 12.5,
            },
            "http:json",
        ),
        "mailchimp": _record(
            mailchimp.to_native(
                {"name": "purchase", "properties": {**SKU, "value": "12.5"}, "occurred_at": WHEN},
                {"email": EMAIL},
            ),
            "mailchimp:l-1",
        ),
        "activecampaign": _record(activecampaign.to_native(form), "activecampaign"),
        "emma": _record({**emma_native, "email": EMAIL}, "emma"),
        "mailerpath": _record(
            mailerpath.to_native(
                {"event_type": "purchase", "email": EMAIL, "properties": SKU, "value": 12.5}
            ),
            "mailerpath",
        ),
        "segment": _record(segment.track_to_native(track, AT), "segment"),
    }


def documented_rule() -> WorkflowRule:
    """The rule docs/dialects.md gives for the purchase sent five ways."""
    section = DIALECTS.read_text().split("## The same purchase sent five ways", 1)[1]
    found = re.search(r"```json\n(.*?)\n```", section, re.DOTALL)
    assert found, "docs/dialects.md: no rule in 'The same purchase sent five ways'"
    definition = json.loads(found.group(1))
    rule = parse_rule(definition, "shop", definition["rule_id"])
    assert isinstance(rule, WorkflowRule)
    return rule


def test_each_dialect_gives_the_purchase_its_type() -> None:
    records = purchases()
    assert {way: r["event_type"] for way, r in records.items()} == dict.fromkeys(
        records, "purchase"
    )
    assert {r["name"] for r in records.values()} == {"purchase"}


def test_one_rule_on_event_type_matches_the_purchase_sent_every_way() -> None:
    rule = documented_rule()
    assert rule.when.event_type == "purchase" and rule.when.name is None
    contact = {"contact_id": "c-1", "email": EMAIL, "user_id": None, "attributes_json": "{}"}
    for way, record in purchases().items():
        event = canonical_event(record, contact, AT)
        event["properties"] = json.loads(event["properties_json"])  # as the worker reads it
        assert event_matches(event, rule.when), way
        whitelisted = Context(whitelist=frozenset({"purchase"}))  # ActiveCampaign's
        (decision,) = decide([rule], event, {}, whitelisted, timedelta(days=1), AT)
        assert decision.fire, (way, decision.reason)


def test_a_mailerpath_type_is_not_its_name() -> None:
    """MailerPath's event_type is its own field: a name beside it changes nothing."""
    native = mailerpath.to_native({"event_type": "purchase", "name": "ordered_mug", "email": EMAIL})
    record = _record(native, "mailerpath")
    assert (record["name"], record["event_type"]) == ("ordered_mug", "purchase")


def test_the_derived_type_never_replaces_a_given_one() -> None:
    assert type_from_name({"name": "a", "event_type": "b"})["event_type"] == "b"
    assert type_from_name({"name": "a"})["event_type"] == "a"


@pytest.mark.parametrize(
    "name", [None, 7, "", "   ", "x\x00y", "n" * (TEXT_LIMITS["event_type"] + 1)]
)
def test_a_name_that_cannot_be_a_type_gives_none(name: Any) -> None:
    assert "event_type" not in type_from_name({"name": name})


def test_a_name_longer_than_a_type_may_be_is_accepted_with_no_type() -> None:
    """Names may have 200 characters, types 100: such a name is found by its name only."""
    assert TEXT_LIMITS["event_type"] < TEXT_LIMITS["name"]
    longest_type = "t" * TEXT_LIMITS["event_type"]
    parsed = _record(segment.track_to_native({"userId": "u-1", "event": longest_type}, AT), "s")
    assert parsed["event_type"] == parsed["name"] == longest_type
    name = "n" * TEXT_LIMITS["name"]
    form = {"actid": "1", "event": name, "visit": json.dumps({"email": EMAIL})}
    parsed = _record(activecampaign.to_native(form), "activecampaign")
    assert (parsed["name"], parsed["event_type"]) == (name, None)
