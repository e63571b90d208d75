"""One contact's tags, segments and triggers as events arrive and time passes (no broker)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from eventline.schemas.rules.book import AccountRules
from eventline.schemas.rules.model import parse_rule
from eventline.streams.automation import Limits, is_due, on_check, on_event
from eventline.streams.messages import personalization
from eventline.streams.rules.triggers import Context

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
LIMITS = Limits(history_days=30, history_max_events=5, late_cutoff=DAY)


def _contact(**fields: Any) -> dict[str, Any]:
    return {
        "account_id": "games",
        "contact_id": "c-1",
        "email": "ada@example.com",
        "user_id": "u-1",
        "attributes_json": '{"plan":"pro"}',
        **fields,
    }


def _event(name: str, event_id: str, at: datetime = NOW, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "account_id": "games",
        "contact_id": "c-1",
        "name": name,
        "occurred_at": at,
        "received_at": at,
        "properties": fields.pop("properties", {}),
        "value": fields.pop("value", None),
        "is_syncing": False,
        "source": "http:json",
        "event_type": None,
        **fields,
    }


def _rules(*definitions: dict[str, Any]) -> AccountRules:
    rules = AccountRules()
    for i, definition in enumerate(definitions):
        rule = parse_rule(definition, "games", definition.get("rule_id", f"r{i}"))
        getattr(
            rules, {"tag": "tags", "segment": "segments", "workflow": "workflows"}[rule.kind]
        ).append(rule)
    return rules


MUGS_TAG = {
    "kind": "tag",
    "rule_id": "mugs",
    "when": {
        "name": "viewed_product",
        "where": [{"property": "category", "op": "equals", "value": "mugs"}],
    },
    "add": ["mug-enthusiast"],
}
REFERRERS = {
    "kind": "segment",
    "rule_id": "referrers",
    "condition": {"kind": "did", "name": "registered_referral"},
}
ACTIVE_7D = {
    "kind": "segment",
    "rule_id": "active-7d",
    "condition": {"kind": "did", "name": "login", "within_days": 7},
}
DISCOUNT = {
    "kind": "workflow",
    "rule_id": "referral-discount",
    "workflow_id": "wf-discount",
    "when": {"name": "registered_referral"},
    "once_per_contact": True,
}


def test_a_matching_event_tags_the_contact_once() -> None:
    rules = _rules(MUGS_TAG)
    mug = _event("viewed_product", "e-1", properties={"category": "mugs"})
    first = on_event(_contact(), mug, rules, Context(), LIMITS, NOW)
    assert first.contact["tags"] == ["mug-enthusiast"] and first.contact_changed
    (change,) = first.tag_changes
    assert change["tag"] == "mug-enthusiast" and change["change"] == "added"
    assert change["event_id"] == "e-1" and change["contact_tags"] == ["mug-enthusiast"]
    again = on_event(
        first.contact,
        _event("viewed_product", "e-2", properties={"category": "mugs"}),
        rules,
        Context(),
        LIMITS,
        NOW,
    )
    assert again.tag_changes == [] and not again.contact_changed
    other = on_event(
        _contact(),
        _event("viewed_product", "e-3", properties={"category": "hats"}),
        rules,
        Context(),
        LIMITS,
        NOW,
    )
    assert other.tag_changes == [] and other.contact["tags"] == []


def test_entering_a_segment_is_published_once_and_leaving_by_time_alone() -> None:
    rules = _rules(ACTIVE_7D)
    login = on_event(_contact(), _event("login", "e-1"), rules, Context(), LIMITS, NOW, "d1")
    (entered,) = login.transitions
    assert (entered["transition"], entered["cause"], entered["seq"]) == ("entered", "event", 1)
    assert entered["event_id"] == "e-1"
    again = on_event(
        login.contact,
        _event("login", "e-2", NOW + HOUR),
        rules,
        Context(),
        LIMITS,
        NOW + HOUR,
        "d1",
    )
    assert again.transitions == []
    # the first login leaving the window changes nothing yet: a check, no transition
    first_due = again.contact["auto"]["next"]
    assert first_due == int((NOW + 7 * DAY).timestamp() * 1000)
    assert is_due(again.contact, "d1", first_due - 1) is None
    assert is_due(again.contact, "d1", first_due) == "time"
    quiet = on_check(again.contact, rules, LIMITS, NOW + 7 * DAY, "time", "c1", "d1")
    assert quiet.transitions == []
    assert quiet.contact["auto"]["next"] == int((NOW + HOUR + 7 * DAY).timestamp() * 1000)
    later = on_check(quiet.contact, rules, LIMITS, NOW + HOUR + 7 * DAY, "time", "c2", "d1")
    (exited,) = later.transitions
    assert (exited["transition"], exited["cause"], exited["seq"]) == ("exited", "time", 2)
    assert exited["event_id"] is None and exited["transition_id"] != entered["transition_id"]
    # what is left to wait for: the first login leaving the 30 days of kept history
    assert later.contact["auto"]["next"] == int((NOW + 30 * DAY).timestamp() * 1000)


def test_a_new_or_changed_definition_asks_for_a_check_and_a_deleted_segment_lets_members_go() -> (
    None
):
    contact = on_event(
        _contact(), _event("registered_referral", "e-1"), _rules(), Context(), LIMITS, NOW
    ).contact
    assert is_due(contact, "", NOW.timestamp() * 1000) is None
    assert is_due(contact, "d-referrers", NOW.timestamp() * 1000) == "definition"
    checked = on_check(contact, _rules(REFERRERS), LIMITS, NOW, "definition", "c1", "d-referrers")
    (entered,) = checked.transitions
    assert entered["cause"] == "definition" and entered["transition"] == "entered"
    assert is_due(checked.contact, "d-referrers", NOW.timestamp() * 1000) is None
    deleted = on_check(checked.contact, _rules(), LIMITS, NOW, "definition", "c2", "")
    (exited,) = deleted.transitions
    assert exited["transition"] == "exited" and exited["cause"] == "definition"


def test_a_workflow_fires_once_per_contact_with_personalization() -> None:
    rules = _rules(DISCOUNT, REFERRERS)
    referral = _event("registered_referral", "e-1", properties={"referral_code": "GAMER42"})
    first = on_event(_contact(), referral, rules, Context(), LIMITS, NOW)
    (trigger,) = first.triggers
    assert trigger["workflow_id"] == "wf-discount" and trigger["contact_email"] == "ada@example.com"
    assert trigger["contact_segments"] == ["referrers"]
    merge = json.loads(trigger["personalization_json"])
    assert merge["EVENT:registered_referral.referral_code"] == "GAMER42"
    assert merge["CONTACT:plan"] == "pro"
    second = on_event(
        first.contact,
        _event("registered_referral", "e-2", NOW + HOUR),
        rules,
        Context(),
        LIMITS,
        NOW + HOUR,
    )
    assert second.triggers == []


def test_a_replayed_event_repeats_its_outputs_exactly_and_changes_nothing() -> None:
    rules = _rules(MUGS_TAG, REFERRERS, DISCOUNT)
    referral = _event("registered_referral", "e-1")
    first = on_event(_contact(), referral, rules, Context(), LIMITS, NOW)
    replay = on_event(first.contact, referral, rules, Context(), LIMITS, NOW + HOUR)
    assert replay.contact == first.contact
    assert replay.transitions == first.transitions and replay.triggers == first.triggers
    assert len(replay.contact["auto"]["facts"]) == 1


def test_backfills_and_late_events_update_history_and_segments_but_trigger_nothing() -> None:
    rules = _rules(DISCOUNT, REFERRERS)
    backfill = _event("registered_referral", "e-1", is_syncing=True)
    synced = on_event(_contact(), backfill, rules, Context(), LIMITS, NOW)
    assert synced.triggers == [] and [t["segment_id"] for t in synced.transitions] == ["referrers"]
    late = _event("registered_referral", "e-2", NOW - 2 * DAY, received_at=NOW)
    assert on_event(_contact(), late, rules, Context(), LIMITS, NOW).triggers == []
    off = on_event(
        _contact(),
        _event("registered_referral", "e-3"),
        rules,
        Context(tracking_on=False),
        LIMITS,
        NOW,
    )
    assert off.triggers == [] and off.transitions


def test_a_workflow_contact_condition_sees_the_tags_and_segments_after_the_event() -> None:
    vip_only = {
        "kind": "workflow",
        "rule_id": "mug-offer",
        "workflow_id": "wf-mugs",
        "when": {"name": "viewed_product"},
        "contact": {
            "kind": "all",
            "conditions": [
                {"kind": "tag", "tag": "mug-enthusiast"},
                {"kind": "segment", "segment_id": "active-7d", "member": False},
            ],
        },
    }
    rules = _rules(MUGS_TAG, ACTIVE_7D, vip_only)
    mug = _event("viewed_product", "e-1", properties={"category": "mugs"})
    assert [
        t["workflow_id"] for t in on_event(_contact(), mug, rules, Context(), LIMITS, NOW).triggers
    ] == ["wf-mugs"]
    hat = _event("viewed_product", "e-2", properties={"category": "hats"})
    assert on_event(_contact(), hat, rules, Context(), LIMITS, NOW).triggers == []


def test_history_is_kept_for_its_window_and_up_to_its_size() -> None:
    contact = _contact()
    for i in range(8):
        contact = on_event(
            contact,
            _event("login", f"e-{i}", NOW - (7 - i) * HOUR),
            _rules(),
            Context(),
            LIMITS,
            NOW,
        ).contact
    facts = contact["auto"]["facts"]
    assert [f[0] for f in facts] == ["e-3", "e-4", "e-5", "e-6", "e-7"]
    old = on_event(
        contact, _event("login", "e-old", NOW - 40 * DAY), _rules(), Context(), LIMITS, NOW
    ).contact
    assert "e-old" not in [f[0] for f in old["auto"]["facts"]]
    assert len(old["auto"]["memo"]) == 9  # remembered, though too old for segments


def test_an_attribute_change_moves_the_contact_between_segments() -> None:
    pro = {
        "kind": "segment",
        "rule_id": "pro",
        "condition": {
            "kind": "attribute",
            "test": {"property": "plan", "op": "equals", "value": "pro"},
        },
    }
    rules = _rules(pro)
    entered = on_check(_contact(), rules, LIMITS, NOW, "event", "reg-1", "d", event_id="reg-1")
    assert [(t["transition"], t["event_id"]) for t in entered.transitions] == [("entered", "reg-1")]
    downgraded = {**entered.contact, "attributes_json": '{"plan":"free"}'}
    exited = on_check(downgraded, rules, LIMITS, NOW, "event", "reg-2", "d", event_id="reg-2")
    assert [(t["transition"], t["seq"]) for t in exited.transitions] == [("exited", 2)]


def test_personalization_of_an_activecampaign_event() -> None:
    tags = personalization(
        _contact(),
        "file download request",
        {"eventdata": "https://example.com/file.pdf"},
        "https://example.com/file.pdf",
    )
    assert tags["EVENT:file download request"] == "https://example.com/file.pdf"
    assert tags["CONTACT:email"] == "ada@example.com"


def test_a_replayed_event_repeats_the_contact_as_it_was_then() -> None:
    rules = _rules(
        MUGS_TAG,
        DISCOUNT,
        {"kind": "tag", "rule_id": "logins", "when": {"name": "login"}, "add": ["active"]},
    )
    first = on_event(
        _contact(), _event("registered_referral", "e-1"), rules, Context(), LIMITS, NOW
    )
    later = on_event(first.contact, _event("login", "e-2"), rules, Context(), LIMITS, NOW)
    assert later.contact["tags"] == ["active"]
    replay = on_event(
        later.contact, _event("registered_referral", "e-1"), rules, Context(), LIMITS, NOW
    )
    assert replay.triggers == first.triggers  # contact_tags as they were: []


def test_a_replayed_check_repeats_its_transitions_and_a_new_contact_its_record() -> None:
    rules = _rules(ACTIVE_7D)
    login = on_event(_contact(), _event("login", "e-1"), rules, Context(), LIMITS, NOW, "d", True)
    assert login.contact_changed  # a new contact: its record is published
    replay = on_event(login.contact, _event("login", "e-1"), rules, Context(), LIMITS, NOW)
    assert replay.contact_changed and replay.transitions == login.transitions
    at = NOW + 8 * DAY
    check = on_check(login.contact, rules, LIMITS, at, "time", "check:1", "d")
    (exited,) = check.transitions
    again = on_check(check.contact, rules, LIMITS, at, "time", "check:1", "d")
    assert again.transitions == [exited]


def test_a_rule_that_cannot_be_evaluated_changes_nothing() -> None:
    broken = _rules(REFERRERS)
    broken.segments[0].condition.name = None  # type: ignore[union-attr]  # as if corrupted
    outcome = on_event(
        _contact(), _event("registered_referral", "e-1"), broken, Context(), LIMITS, NOW
    )
    assert outcome.transitions == []


def test_the_oldest_event_leaving_the_history_is_scheduled() -> None:
    rules = _rules(REFERRERS)
    old = _event("registered_referral", "e-1", NOW - 29 * DAY, received_at=NOW)
    contact = on_event(_contact(), old, rules, Context(), LIMITS, NOW).contact
    due = contact["auto"]["next"]
    assert due == int((NOW + DAY).timestamp() * 1000)  # 30 days of history
    (left,) = on_check(contact, rules, LIMITS, NOW + DAY, "time", "c", "").transitions
    assert left["transition"] == "exited" and left["cause"] == "time"


def test_large_properties_are_kept_short_in_the_history() -> None:
    big = {"sku": "MUG-1", "html": "x" * 5000, "price": 12, "nested": {"a": 1}}
    event = _event("viewed_product", "e-1", properties=big)
    contact = on_event(_contact(), event, _rules(), Context(), LIMITS, NOW).contact
    assert contact["auto"]["facts"][0][4] == {"sku": "MUG-1", "price": 12}
