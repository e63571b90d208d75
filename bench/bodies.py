"""What the load generator posts: bodies of POST /v1/events, built from an index.

Module-level functions (or partials of them), so that they reach a spawned process."""

from __future__ import annotations

from typing import Any


def event(i: int, run: str) -> dict[str, Any]:
    """Event i of a run: 1,000 contacts, 50 products."""
    return {
        "email": f"bench{i % 1000}.{run}@example.com",
        "name": "viewed_product",
        "properties": {"sku": f"SKU-{i % 50}", "i": i},
        "value": 1.0,
    }


def bulk(i: int, run: str, size: int) -> list[dict[str, Any]]:
    """Bulk post i: events i*size ... i*size+size-1."""
    return [event(i * size + j, run) for j in range(size)]


def probe(i: int, run: str) -> dict[str, Any]:
    """A new contact's latency probe: the w-probe workflow triggers on every one."""
    return {"email": f"probe{i}.{run}@example.com", "name": "latency_probe"}


def history_event(i: int, run: str) -> dict[str, Any]:
    """Event i of a history as ``eventline import`` sends it: with its time, its key, and
    marked as backfill."""
    return {
        **event(i, run),
        "occurred_at": f"2021-01-01T00:{(i // 60) % 60:02d}:{i % 60:02d}Z",
        "is_syncing": True,
        "idempotency_key": f"history-{run}-{i}",
    }


def history_bulk(i: int, run: str, size: int) -> list[dict[str, Any]]:
    """Bulk post i of a history: events i*size ... i*size+size-1, as the import sends them."""
    return [history_event(i * size + j, run) for j in range(size)]
