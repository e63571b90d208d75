"""eventline.streams.merger: the records a merge sends and the state it writes, with a fake worker
(no broker): a replayed step sends the very same records; a merged contact forwards."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from eventline.core.errors import InvalidEvent
from eventline.schemas.codec import codec
from eventline.streams import merge, merger
from eventline.streams.resolve import MAX_HOPS
from eventline.streams.sending import begin_record, keep
from eventline.streams.table import Table
from tests.unit.streams.test_automation import MUGS_TAG, NOW, REFERRERS, _rules
from tests.unit.streams.test_merge import _user, _visitor

TOPICS = {
    "incoming": "incoming",
    "by_contact": "by-contact",
    "contacts_out": "contacts",
    "tags_out": "tags",
    "segments_out": "segments",
    "workflows_out": "workflows",
}
SCHEMAS = {
    "by-contact": None,
    "contacts": "Contact",
    "tags": "TagChange",
    "segments": "SegmentTransition",
}


def _stored(contact: dict[str, Any]) -> dict[str, Any]:
    """A contact as the worker's table holds it (with its record's times)."""
    at = int(NOW.timestamp() * 1000) - 3_600_000
    return {"created_at": at, "updated_at": at, "last_change_id": "x", **contact}


def _worker() -> Any:
    rules = _rules(MUGS_TAG, REFERRERS)
    settings = SimpleNamespace(history_days=30, history_max_events=5, trigger_late_cutoff_s=86400)
    return SimpleNamespace(
        contacts=Table("contacts", "contacts-changelog"),
        rules=SimpleNamespace(snapshot=lambda _account: (rules, "")),
        settings=settings,
        segment_clock=None,
        **TOPICS,
    )


def _run(call: Any) -> list[tuple[str, bytes, bytes]]:
    begin_record()
    asyncio.run(call)
    return keep()


def _decoded(outputs: list[tuple[str, bytes, bytes]]) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for topic, key, value in outputs:
        schema = SCHEMAS.get(topic) or codec().name_of(value) or "IncomingRecord"
        out.append((topic, key.decode(), codec().decode(schema, value)))
    return out


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("eventline.core.clock.now", lambda: NOW)
    monkeypatch.setattr("eventline.core.clock.now_ms", lambda: int(NOW.timestamp() * 1000))


GIVE = {
    "account_id": "games",
    "merge_id": merge.merge_id("games", "anon-1"),
    "from_contact_id": "anon-1",
    "into_contact_id": "c-1",
    "stage": "give",
    "state_json": None,
    "requested_at": NOW,
    "hops": 0,
}


def test_the_source_gives_once_and_a_replay_sends_the_same_records() -> None:
    w = _worker()
    w.contacts["games/anon-1"] = _stored(_visitor())
    first = _run(merger.handle(w, GIVE))
    sent = _decoded(first)
    assert [(topic, key) for topic, key, _ in sent] == [
        ("contacts", "games/anon-1"),
        ("segments", "games/anon-1"),
        ("by-contact", "games/c-1"),
    ]
    contact, exit_, fold = (record for _, _, record in sent)
    assert contact["merged_into"] == "c-1"
    assert (exit_["transition"], exit_["cause"]) == ("exited", "merge")
    assert fold["stage"] == "fold" and '"mug-enthusiast"' in fold["state_json"]
    assert w.contacts.get("games/anon-1")["merged_into"] == "c-1"
    assert _run(merger.handle(w, GIVE)) == first  # replayed: the very same records


def test_the_target_folds_once_and_a_replay_sends_the_same_records() -> None:
    w = _worker()
    w.contacts["games/anon-1"] = _stored(_visitor())
    w.contacts["games/c-1"] = _stored(_user())
    fold = _decoded(_run(merger.handle(w, GIVE)))[-1][2]
    first = _run(merger.handle(w, fold))
    topics = [topic for topic, _, _ in first]
    assert topics == ["tags", "contacts", "segments"]
    folded = w.contacts.get("games/c-1")
    assert folded["tags"] == ["vip", "mug-enthusiast"]
    assert [f[0] for f in folded["auto"]["facts"]] == ["e-1", "e-2", "e-3"]
    assert _run(merger.handle(w, fold)) == first
    assert w.contacts.get("games/c-1")["auto"]["facts"] == folded["auto"]["facts"]


def test_a_fold_reaching_a_merged_target_follows_it() -> None:
    w = _worker()
    w.contacts["games/c-1"] = {**_stored(_user()), "merged_into": "c-2"}
    fold = {**GIVE, "stage": "fold", "state_json": "{}"}
    ((topic, key, onward),) = _decoded(_run(merger.handle(w, fold)))
    assert (topic, key, onward["into_contact_id"], onward["hops"]) == (
        "by-contact",
        "games/c-2",
        "c-2",
        1,
    )
    with pytest.raises(InvalidEvent, match="merge cycle"):
        _run(merger.handle(w, {**fold, "hops": MAX_HOPS}))


def test_a_record_for_a_merged_contact_is_forwarded_to_its_target() -> None:
    w = _worker()
    record = {
        "kind": "EVENT",
        "account_id": "games",
        "event_id": "e-9",
        "receipt_id": "r-9",
        "received_at": NOW,
        "source": "segment",
        "contact_id": "anon-1",
        "user_id": "anonymous:a-1",
        "name": "Product Viewed",
        "hops": 2,
    }
    ((topic, key, onward),) = _decoded(_run(merger.forward(w, record, "c-1")))
    assert (topic, key, onward["contact_id"], onward["hops"]) == (
        "by-contact",
        "games/c-1",
        "c-1",
        3,
    )
    with pytest.raises(InvalidEvent, match="merge cycle"):
        _run(merger.forward(w, {**record, "hops": MAX_HOPS}, "c-1"))
