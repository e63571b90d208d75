"""Which rule versions are in effect for an event: by its receipt, deletions, restarts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from eventline.schemas.rules.book import RuleBook

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _entry(rule_id: str, version: int, at: datetime, **definition: Any) -> dict[str, Any]:
    deleted = definition.pop("deleted", False)
    return {
        "account_id": "acme",
        "rule_id": rule_id,
        "kind": definition.get("kind", "workflow"),
        "definition_json": json.dumps(definition),
        "version": version,
        "deleted": deleted,
        "created_at": definition.pop("created_at", T0),
        "updated_at": at,
    }


def _workflow(name: str) -> dict[str, Any]:
    return {"kind": "workflow", "workflow_id": "wf", "when": {"name": name}}


def test_an_event_gets_the_versions_written_before_it_was_received() -> None:
    book = RuleBook()
    book.apply(_entry("w", 1, T0, **_workflow("a")))
    book.apply(_entry("w", 2, T0 + 10 * SECOND, **_workflow("b")))
    assert book.in_effect("acme", _ms(T0 - SECOND)).workflows == []  # before it existed
    (early,) = book.in_effect("acme", _ms(T0 + SECOND)).workflows
    (late,) = book.in_effect("acme", _ms(T0 + 11 * SECOND)).workflows
    assert (early.when.name, late.when.name) == ("a", "b")


def test_a_deleted_rule_applies_to_nothing_received_after_the_deletion() -> None:
    book = RuleBook()
    book.apply(_entry("w", 1, T0, **_workflow("a")))
    book.apply(_entry("w", 2, T0 + 10 * SECOND, deleted=True, **_workflow("a")))
    assert len(book.in_effect("acme", _ms(T0 + SECOND)).workflows) == 1
    assert book.in_effect("acme", _ms(T0 + 11 * SECOND)).workflows == []
    assert book.entries("acme") == []
    entry = book.entry("acme", "w")
    assert entry is not None and entry["deleted"]


def test_after_a_restart_the_oldest_known_version_stands_in_for_compacted_ones() -> None:
    book = RuleBook()  # only version 3 survived compaction; version 1 was written at T0
    book.apply(_entry("w", 3, T0 + 60 * SECOND, **_workflow("c")))
    (rule,) = book.in_effect("acme", _ms(T0 + SECOND)).workflows
    assert rule.when.name == "c"
    assert book.in_effect("acme", _ms(T0 - SECOND)).workflows == []


def test_segments_are_always_current_and_their_digest_tracks_definitions() -> None:
    book = RuleBook()
    assert book.segments_digest("acme") == ""
    did = {"kind": "segment", "condition": {"kind": "did", "name": "login"}}
    book.apply(_entry("s", 1, T0 + 10 * SECOND, **did))
    first = book.segments_digest("acme")
    assert first and len(book.in_effect("acme", _ms(T0)).segments) == 1
    book.apply(_entry("s", 2, T0 + 20 * SECOND, **did))  # the same definition again
    assert book.segments_digest("acme") == first
    changed = {"kind": "segment", "condition": {"kind": "did", "name": "purchase"}}
    book.apply(_entry("s", 3, T0 + 30 * SECOND, **changed))
    assert book.segments_digest("acme") not in ("", first)


def test_an_entry_that_does_not_parse_is_skipped_and_other_accounts_see_nothing() -> None:
    book = RuleBook()
    book.apply(_entry("bad", 1, T0, kind="workflow", when={"name": "a"}))  # no workflow_id
    book.apply(_entry("tag", 1, T0, kind="tag", when={"name": "a"}, add=["x"]))
    assert [e["rule_id"] for e in book.entries("acme")] == ["tag"]
    assert book.in_effect("other", _ms(T0 + SECOND)).tags == []
