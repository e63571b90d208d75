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
