"""Rule conditions and tag changes against canonical events (the seeds' scenarios)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from eventline.schemas.rules.model import EventMatch, PropertyCondition, TagRule
from eventline.streams.rules.match import condition_holds, event_matches, tag_changes

VIEWED_MUG = {
    "account_id": "shop",
    "name": "viewed_product",
    "event_type": None,
    "properties": {"sku": "MUG-1", "category": "Mugs", "price": "12.50", "tags": ["blue"]},
}


@pytest.mark.parametrize(
    ("op", "path", "value", "holds"),
    [
        ("equals", "sku", "MUG-1", True),
        ("equals", "price", 12.5, True),  # a numeric string equals its number
        ("equals", "sku", "MUG-2", False),
        ("in", "sku", ["MUG-1", "MUG-2"], True),
        ("in", "sku", ["CUP-1"], False),
        ("contains", "category", "mug", True),  # case-insensitive substring
        ("contains", "tags", "blue", True),  # list element
        ("gt", "price", 10, True),
        ("gte", "price", 12.5, True),
        ("lt", "price", 12.5, False),
        ("lte", "price", "12.5", True),
        ("gt", "sku", 1, False),  # not a number: never greater
        ("exists", "sku", None, True),
        ("exists", "color", None, False),
        ("equals", "color", "blue", False),  # missing fails every test but exists
    ],
)
def test_conditions(op: str, path: str, value: Any, holds: bool) -> None:
    condition = PropertyCondition(property=path, op=op, value=value)  # type: ignore[arg-type]
    assert condition_holds(VIEWED_MUG["properties"], condition) is holds


def test_dotted_paths_reach_nested_properties() -> None:
    condition = PropertyCondition(property="item.sku", op="equals", value="MUG-1")
    assert condition_holds({"item": {"sku": "MUG-1"}}, condition)
    assert not condition_holds({"item": "MUG-1"}, condition)


@pytest.mark.parametrize(
    "bad",
    [
        {"property": "p", "op": "in", "value": "x"},
        {"property": "p", "op": "gt", "value": "many"},
        {"property": "p", "op": "equals"},
        {"property": "p", "op": "matches", "value": "x"},
    ],
)
def test_ill_formed_conditions_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PropertyCondition.model_validate(bad)


def test_an_event_match_needs_a_name_or_type_and_every_condition() -> None:
    with pytest.raises(ValidationError):
        EventMatch(where=[])
    mugs = EventMatch(
        name="viewed_product",
        where=[PropertyCondition(property="category", op="equals", value="Mugs")],
    )
    assert event_matches(VIEWED_MUG, mugs)
    assert not event_matches({**VIEWED_MUG, "name": "purchase"}, mugs)
    assert event_matches(
        {**VIEWED_MUG, "event_type": "cart"}, EventMatch(event_type="cart")
    ) and not event_matches(VIEWED_MUG, EventMatch(event_type="cart"))


def _mug_rule(**change: Any) -> TagRule:
    fields: dict[str, Any] = {
        "rule_id": "mug-enthusiast",
        "account_id": "shop",
        "when": {
            "name": "viewed_product",
            "where": [{"property": "sku", "op": "in", "value": ["MUG-1"]}],
        },
        "add": ["mug-enthusiast"],
        "remove": ["cold-lead"],
    }
    return TagRule.model_validate({**fields, **change})


def test_a_matching_event_changes_the_tags_once() -> None:
    tags, changes = tag_changes([_mug_rule()], VIEWED_MUG, ["cold-lead", "newsletter"])
    assert tags == ["newsletter", "mug-enthusiast"]
    assert changes == [
        ("cold-lead", "removed", "mug-enthusiast"),
        ("mug-enthusiast", "added", "mug-enthusiast"),
    ]
    again, none = tag_changes([_mug_rule()], VIEWED_MUG, tags)
    assert again == tags and none == []  # nothing changes: nothing is published


def test_rules_of_other_accounts_and_non_matching_events_change_nothing() -> None:
    assert tag_changes([_mug_rule(account_id="other")], VIEWED_MUG, []) == ([], [])
    assert tag_changes([_mug_rule()], {**VIEWED_MUG, "name": "login"}, []) == ([], [])


def test_a_tag_rule_must_change_something() -> None:
    with pytest.raises(ValidationError):
        _mug_rule(add=[], remove=[])
