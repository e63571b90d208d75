"""eventline.sinks.queries.merged_sources: a timeline's contacts, the merged ones followed back."""

from __future__ import annotations

from typing import Any

from eventline.sinks.queries import MERGE_DEPTH, merged_sources


class MergedStore:
    """Answers the merged_into query from contact -> the contact it was merged into."""

    def __init__(self, merged_into: dict[str, str]) -> None:
        self.merged_into = merged_into
        self.queries = 0

    def query(self, _sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.queries += 1
        return [
            {"contact_id": c} for c, into in sorted(self.merged_into.items()) if into in params["f"]
        ]


def test_a_contact_nothing_was_merged_into_costs_one_query() -> None:
    store = MergedStore({"a": "b"})
    assert merged_sources(store, "acme", "z") == []  # type: ignore[arg-type]
    assert store.queries == 1


def test_merges_are_followed_back_through_merged_contacts() -> None:
    store = MergedStore({"anon-1": "user", "anon-2": "user", "older": "anon-1", "x": "other"})
    assert merged_sources(store, "acme", "user") == ["anon-1", "anon-2", "older"]  # type: ignore[arg-type]


def test_a_merge_cycle_or_a_long_chain_ends() -> None:
    cycle = MergedStore({"a": "b", "b": "a"})
    assert merged_sources(cycle, "acme", "a") == ["b"]  # type: ignore[arg-type]
    chain = MergedStore({f"c{i + 1}": f"c{i}" for i in range(20)})
    assert len(merged_sources(chain, "acme", "c0")) == MERGE_DEPTH  # type: ignore[arg-type]
