"""The example automation service: merge tags, identities of repeats, actions (no broker)."""

from __future__ import annotations

import json
from typing import Any

from examples.automation_consumer import Deduplicator, act, identity, merge_tags, render


def test_render_fills_known_merge_tags_and_leaves_the_others() -> None:
    merge = {"EVENT:file download request": "https://example.com/f.pdf"}
    text = render("Here: %EVENT:file download request% (%CONTACT:first_name%)", merge)
    assert text == "Here: https://example.com/f.pdf (%CONTACT:first_name%)"


def test_render_writes_the_fallback_of_a_merge_tag_the_trigger_lacks() -> None:
    template = "Hi %CONTACT:first_name|there%!"
    assert render(template, {}) == "Hi there!"
    assert render(template, {"CONTACT:first_name": "Ada"}) == "Hi Ada!"


def test_a_trigger_becomes_an_email_and_a_repeat_is_dropped(records: dict[str, Any]) -> None:
    trigger = {
        **records["WorkflowTrigger"],
        "workflow_id": "send-file",
        "personalization_json": json.dumps(
            {"EVENT:file download request": "https://example.com/f.pdf"}
        ),
    }
    assert act("workflows", trigger) == (
        "email to ada@example.com [send-file]: Hello! Here is your file link: "
        "https://example.com/f.pdf"
    )
    seen = Deduplicator(size=2)
    assert seen.first_time(identity("workflows", trigger))
    assert not seen.first_time(identity("workflows", trigger))


def test_segment_and_tag_messages(records: dict[str, Any]) -> None:
    transition, change = records["SegmentTransition"], records["TagChange"]
    assert act("segments", transition) == "ada@example.com exited segment active-7d (time)"
    assert "tag mug-enthusiast added" in act("tags", change)
    assert identity("segments", transition) == transition["transition_id"]
    assert identity("tags", change) != identity("tags", {**change, "change": "removed"})


def test_merge_tags_left_out_of_a_large_trigger_come_from_its_properties() -> None:
    trigger = {
        "event_name": "purchase",
        "event_eventdata": None,
        "event_properties_json": json.dumps({"sku": "MUG-1", "note": "n" * 40_000}),
        "contact_attributes_json": json.dumps({"first_name": "Ada"}),
        "personalization_json": json.dumps({"CONTACT:email": "ada@example.com"}),
    }
    tags = merge_tags(trigger)
    assert tags["EVENT:purchase.sku"] == "MUG-1" and tags["CONTACT:first_name"] == "Ada"
    assert render("%CONTACT:email%", tags) == "ada@example.com"
