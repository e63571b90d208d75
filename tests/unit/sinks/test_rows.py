"""eventline.sinks.rows: records as ClickHouse rows, one column per value."""

from __future__ import annotations

from typing import Any

import pytest

from eventline.sinks import rows
from eventline.sinks.routes import _received_row


def test_event_row_matches_columns(canonical_record: dict[str, Any]) -> None:
    row = rows.event_row(canonical_record)
    assert len(row) == len(rows.EVENT_COLUMNS)
    named = dict(zip(rows.EVENT_COLUMNS, row, strict=True))
    assert named["properties"] == canonical_record["properties_json"]
    assert named["contact_attributes"] == canonical_record["contact_attributes_json"]
    assert named["event_id"] == canonical_record["event_id"]


def test_contact_row_matches_columns(contact_record: dict[str, Any]) -> None:
    row = rows.contact_row(contact_record)
    assert len(row) == len(rows.CONTACT_COLUMNS)
    named = dict(zip(rows.CONTACT_COLUMNS, row, strict=True))
    assert named["attributes"] == contact_record["attributes_json"]
    assert named["last_change_id"] == contact_record["last_change_id"]


def test_incoming_row_matches_columns_and_lower_cases(incoming_record: dict[str, Any]) -> None:
    row = rows.incoming_row(
        incoming_record, "PROCESSED", incoming_record["received_at"], process_error=None, raw="{}"
    )
    assert len(row) == len(rows.INCOMING_COLUMNS)
    named = dict(zip(rows.INCOMING_COLUMNS, row, strict=True))
    assert named["kind"] == "event"
    assert named["status"] == "processed"
    assert named["raw"] == "{}"
    assert named["attempt"] == 0
    assert named["properties"] == incoming_record["properties_json"]


@pytest.mark.parametrize("status", ["RECEIVED", "PROCESSED", "DUPLICATE", "REJECTED", "FAILED"])
def test_status_row(status_record: dict[str, Any], status: str) -> None:
    row = rows.status_row({**status_record, "status": status})
    assert len(row) == len(rows.INCOMING_COLUMNS)
    named = dict(zip(rows.INCOMING_COLUMNS, row, strict=True))
    assert named["status"] == status.lower()
    assert named["process_error"] == status_record["process_error"]
    assert named["raw"] == status_record["raw"]
    assert named["updated_at"] == status_record["updated_at"]


def test_received_row_skips_identity_claims(incoming_record: dict[str, Any]) -> None:
    assert _received_row({**incoming_record, "kind": "IDENTITY"}) is None
    row = _received_row({**incoming_record, "kind": "CONTACT"})
    assert row is not None
    named = dict(zip(rows.INCOMING_COLUMNS, row, strict=True))
    assert named["kind"] == "contact" and named["status"] == "received"


def test_contact_row_carries_the_tags(contact_record: dict[str, Any]) -> None:
    named = dict(zip(rows.CONTACT_COLUMNS, rows.contact_row(contact_record), strict=True))
    assert named["tags"] == ["customer", "mug-enthusiast"]
    untagged = {k: v for k, v in contact_record.items() if k != "tags"}
    assert dict(zip(rows.CONTACT_COLUMNS, rows.contact_row(untagged), strict=True))["tags"] == []


@pytest.mark.parametrize(
    ("schema", "mapper", "columns"),
    [
        ("TagChange", rows.tag_change_row, rows.TAG_CHANGE_COLUMNS),
        ("SegmentTransition", rows.transition_row, rows.TRANSITION_COLUMNS),
        ("WorkflowTrigger", rows.trigger_row, rows.TRIGGER_COLUMNS),
    ],
)
def test_automation_rows_match_columns(
    records: dict[str, dict[str, Any]], schema: str, mapper: Any, columns: tuple[str, ...]
) -> None:
    record = records[schema]
    named = dict(zip(columns, mapper(record), strict=True))
    assert named["account_id"] == record["account_id"]
    assert named["contact_id"] == record["contact_id"]
    if schema == "WorkflowTrigger":
        assert named["personalization"] == record["personalization_json"]
        assert named["event_properties"] == record["event_properties_json"]
