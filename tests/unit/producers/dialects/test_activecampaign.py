"""ActiveCampaign's tracking form and tracking logs, mapped onto the native event."""

from __future__ import annotations

import pytest

from eventline.producers.dialects import activecampaign as ac
from eventline.producers.validation import InputRejected

FORM = {
    "actid": "123456789",
    "key": "k",
    "event": "file download request",
    "eventdata": "https://www.yoursite.com/downloads/file.pdf",
    "visit": '{"email":"ada@example.com"}',
}


def test_the_guides_form_maps_to_a_native_event() -> None:
    assert ac.to_native(FORM) == {
        "name": "file download request",
        "email": "ada@example.com",
        "properties": {"eventdata": "https://www.yoursite.com/downloads/file.pdf"},
        "event_type": "file download request",  # the name is the kind of event
    }
    assert ac.actid_of(FORM) == 123456789 and ac.actid_of({"actid": "x"}) is None


def test_json_object_eventdata_becomes_the_properties_and_shows_back_as_sent() -> None:
    properties = ac.properties_of('{"sku": "MUG-1", "qty": 2}')
    assert properties == {"sku": "MUG-1", "qty": 2}
    assert ac.eventdata_of(properties) == '{"sku":"MUG-1","qty":2}'
    assert ac.eventdata_of(ac.properties_of("plain")) == "plain"
    assert ac.properties_of("") == {} and ac.eventdata_of({}) is None


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"event": ""}, ["event"]),
        ({"visit": "not json"}, ["visit"]),
        ({"visit": '{"id": 1}'}, ["visit"]),
        ({"event": "", "visit": ""}, ["event", "visit"]),
    ],
)
def test_missing_parts_are_named(change: dict[str, str], fields: list[str]) -> None:
    with pytest.raises(InputRejected) as caught:
        ac.to_native({**FORM, **change})
    assert [p.field for p in caught.value.problems] == fields


def test_tracking_is_on_until_switched_off_and_the_whitelist_starts_empty() -> None:
    assert ac.tracking_enabled({}) and not ac.tracking_enabled({"event_tracking": False})
    assert ac.whitelist({}) == [] and ac.whitelist({"event_names": ["a"]}) == ["a"]


def test_a_tracking_log_and_its_activity_have_the_documented_fields() -> None:
    event = {
        "event_id": "e-1",
        "contact_id": "c-1",
        "name": "file download request",
        "properties": {"eventdata": "https://x/file.pdf"},
        "occurred_at": "2026-11-23T10:00:00+00:00",
    }
    log = ac.tracking_log(event, "http://h")
    assert set(log) == {"subscriberid", "type", "value", "tstamp", "hash", "links", "id", "contact"}
    assert (log["type"], log["value"], log["contact"]) == (
        "file download request",
        "https://x/file.pdf",
        "c-1",
    )
    activity = ac.activity(log, "http://h")
    assert activity["reference_type"] == "TrackingLog" and activity["reference_id"] == "e-1"
    assert activity["reference"] == {"type": "tracking-log", "id": "e-1"}


def test_a_numeric_value_in_eventdata_is_the_events_value_and_reads_back() -> None:
    native = ac.to_native({**FORM, "eventdata": '{"sku": "MUG-1", "value": 12.5}'})
    assert native["properties"] == {"sku": "MUG-1"} and native["value"] == 12.5
    event = {"event_id": "e", "contact_id": "c", "name": "purchase", "occurred_at": "t"}
    log = ac.tracking_log({**event, "properties": {"sku": "MUG-1"}, "value": 12.5}, "http://h")
    assert log["value"] == '{"sku":"MUG-1","value":12.5}'
