"""Shared fixtures of the unit tests: a clean environment and realistic records of each schema."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import pytest

RECEIVED = datetime(2026, 3, 14, 15, 9, 26, 535897, tzinfo=UTC)
OCCURRED = datetime(2026, 3, 14, 15, 1, 2, 345678, tzinfo=UTC)
PROCESSED = datetime(2026, 3, 14, 15, 9, 27, 123456, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clean_eventline_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the EVENTLINE_* variables of the shell that runs pytest."""
    for name in list(os.environ):
        if name.startswith("EVENTLINE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def incoming_record() -> dict[str, Any]:
    return {
        "kind": "EVENT",
        "account_id": "acme",
        "event_id": "4a0f6f39-94c5-5c0c-9f55-0b1b9b8e3d11",
        "receipt_id": "0d9b3a52-6f87-4a55-a9a0-6f0a7c1e2b33",
        "idempotency_key": "order-1001",
        "received_at": RECEIVED,
        "source": "http:json",
        "email": "ada@example.com",
        "user_id": "u-42",
        "contact_id": None,
        "name": "purchase",
        "occurred_at": OCCURRED,
        "properties_json": '{"color":"blue","sku":"MUG-1"}',
        "value": 12.5,
        "is_syncing": False,
        "attributes_json": "{}",
        "attempt": 0,
        "route_key": None,
        "event_type": "purchase",
        "unknown_contact": None,
        "merge_from": None,
        "hops": 0,
    }


@pytest.fixture
def status_record(incoming_record: dict[str, Any]) -> dict[str, Any]:
    return {
        "record": incoming_record,
        "status": "REJECTED",
        "process_error": "name: Field required",
        "raw": '{"email": "ada@example.com"}',
        "updated_at": PROCESSED,
    }


@pytest.fixture
def canonical_record() -> dict[str, Any]:
    return {
        "event_id": "4a0f6f39-94c5-5c0c-9f55-0b1b9b8e3d11",
        "account_id": "acme",
        "contact_id": "7c1d4c55-0f4e-5b8e-8a3a-3e3f1f2f9a01",
        "name": "purchase",
        "occurred_at": OCCURRED,
        "received_at": RECEIVED,
        "processed_at": PROCESSED,
        "properties_json": '{"sku":"MUG-1"}',
        "value": 12.5,
        "is_syncing": True,
        "source": "http:form",
        "idempotency_key": None,
        "contact_email": "ada@example.com",
        "contact_user_id": "u-42",
        "contact_attributes_json": '{"plan":"pro"}',
        "event_type": "purchase",
    }


@pytest.fixture
def contact_record() -> dict[str, Any]:
    return {
        "account_id": "acme",
        "contact_id": "7c1d4c55-0f4e-5b8e-8a3a-3e3f1f2f9a01",
        "email": "ada@example.com",
        "user_id": None,
        "attributes_json": '{"plan":"pro"}',
        "created_at": OCCURRED,
        "updated_at": RECEIVED,
        "last_change_id": "4a0f6f39-94c5-5c0c-9f55-0b1b9b8e3d11",
        "tags": ["customer", "mug-enthusiast"],
        "merged_into": None,
    }


@pytest.fixture
def account_key_record() -> dict[str, Any]:
    return {
        "kind": "API_KEY",
        "account_id": "acme",
        "entry_id": "k3f9a1c2b7d4e",
        "name": "checkout service",
        "enabled": True,
        "number": None,
        "secret_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "key_hint": "el_k3f9a1c2b7d4e_Xy",
        "settings_json": "{}",
        "created_at": OCCURRED,
        "updated_at": RECEIVED,
    }


AUTOMATION_RECORDS: dict[str, dict[str, Any]] = {
    "TagChange": {
        "account_id": "acme",
        "contact_id": "7c1d4c55-0f4e-5b8e-8a3a-3e3f1f2f9a01",
        "tag": "mug-enthusiast",
        "change": "added",
        "rule_id": "mugs",
        "event_id": "4a0f6f39-94c5-5c0c-9f55-0b1b9b8e3d11",
        "changed_at": PROCESSED,
        "contact_email": "ada@example.com",
        "contact_user_id": None,
        "contact_tags": ["customer", "mug-enthusiast"],
    },
    "SegmentTransition": {
        "transition_id": "5d0a1f7c-2b6e-5a3d-8f4e-9c1b2a3d4e5f",
        "account_id": "acme",
        "contact_id": "7c1d4c55-0f4e-5b8e-8a3a-3e3f1f2f9a01",
        "segment_id": "active-7d",
        "transition": "exited",
        "seq": 2,
        "cause": "time",
        "event_id": None,
        "at": PROCESSED,
        "contact_email": "ada@example.com",
        "contact_user_id": "u-42",
    },
    "WorkflowTrigger": {
        "trigger_id": "0f6b7f0e-8d43-5a55-9b1c-2b4d6f8a0c11",
        "account_id": "acme",
        "workflow_id": "wf-discount",
        "rule_id": "referral-discount",
        "contact_id": "7c1d4c55-0f4e-5b8e-8a3a-3e3f1f2f9a01",
        "contact_email": "ada@example.com",
        "contact_user_id": None,
        "contact_attributes_json": '{"plan":"pro"}',
        "contact_tags": ["referrer"],
        "contact_segments": ["referrers"],
        "event_id": "4a0f6f39-94c5-5c0c-9f55-0b1b9b8e3d11",
        "event_name": "registered_referral",
        "event_type": None,
        "event_properties_json": '{"referral_code":"GAMER42"}',
        "event_eventdata": '{"referral_code":"GAMER42"}',
        "event_value": None,
        "event_source": "mailchimp:57afe96172",
        "event_occurred_at": OCCURRED,
        "personalization_json": '{"EVENT:registered_referral":"GAMER42"}',
        "triggered_at": PROCESSED,
    },
    "RuleEntry": {
        "account_id": "acme",
        "rule_id": "mug-enthusiasts",
        "kind": "segment",
        "definition_json": '{"condition":{"kind":"did","name":"viewed_product"}}',
        "version": 2,
        "deleted": False,
        "created_at": OCCURRED,
        "updated_at": RECEIVED,
    },
    "ContactCheck": {
        "account_id": "acme",
        "contact_id": "7c1d4c55-0f4e-5b8e-8a3a-3e3f1f2f9a01",
        "reason": "time",
        "due_at": RECEIVED,
        "issued_at": PROCESSED,
    },
    "ContactMerge": {
        "account_id": "acme",
        "merge_id": "0b7f4bde-55a1-5f65-b0a4-3c1f2de2b7a9",
        "from_contact_id": "2d6a9b1e-4c3f-5a8e-9d7c-1b2a3c4d5e6f",
        "into_contact_id": "7c1d4c55-0f4e-5b8e-8a3a-3e3f1f2f9a01",
        "stage": "fold",
        "state_json": '{"tags":["visitor"],"facts":[]}',
        "requested_at": RECEIVED,
        "hops": 0,
    },
    "ClockOffset": {"offset_ms": 8 * 86_400_000, "set_at": PROCESSED},
    "AccountChange": {
        "change_id": "9b2f0c1d6e7a4b3c8d9e0f1a2b3c4d5e",
        "account_id": "acme",
        "op": "create_event_type",
        "args_json": '{"created_at":"@D:2026-03-14T15:09:26","display_name":"Visited Website",'
        '"event_type":"visited_website"}',
        "at": RECEIVED,
    },
    "RuleChange": {
        "change_id": "5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b",
        "account_id": "acme",
        "rule_id": "mug-enthusiasts",
        "op": "put",
        "kind": "segment",
        "definition_json": '{"condition":{"kind":"did","name":"viewed_product"}}',
        "at": RECEIVED,
    },
}


@pytest.fixture
def records(
    incoming_record: dict[str, Any],
    status_record: dict[str, Any],
    canonical_record: dict[str, Any],
    contact_record: dict[str, Any],
    account_key_record: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """Schema name -> one realistic record of it."""
    return {
        "IncomingRecord": incoming_record,
        "EventStatus": status_record,
        "CanonicalEvent": canonical_record,
        "Contact": contact_record,
        "AccountEntry": account_key_record,
        **AUTOMATION_RECORDS,
    }
