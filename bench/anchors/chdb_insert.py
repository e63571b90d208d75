"""Anchor: raw clickhouse-connect inserts into embedded chDB of the sink's row shape (the
``events`` table of sinks/migrations, rows as sinks/rows.py makes them), 10,000 a batch."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import clickhouse_connect

from eventline.sinks.rows import EVENT_COLUMNS, event_row
from eventline.sinks.store import Store


def _row(i: int, at: datetime) -> tuple[object, ...]:
    return event_row({
        "account_id": "anchor", "event_id": str(uuid.uuid4()), "contact_id": str(uuid.uuid4()),
        "name": "viewed_product", "occurred_at": at, "received_at": at,
        "processed_at": at + timedelta(milliseconds=5),
        "properties_json": json.dumps({"sku": f"SKU-{i % 50}", "i": i}), "value": 1.0,
        "is_syncing": False, "source": "api", "idempotency_key": None,
        "contact_email": f"a{i % 1000}@example.com", "contact_user_id": None,
        "contact_attributes_json": "{}", "event_type": None,
    })  # fmt: skip


def chdb_insert(path: str, n: int, batch: int = 10_000) -> float:
    """Rows/s of inserting n rows in batches of ``batch`` (building the rows is not timed)."""
    client = clickhouse_connect.get_client(interface="chdb", path=path)
    Store(client, "anchor", 10_000).migrate()  # eventline's own tables
    at = datetime.now(UTC)
    rows = [_row(i, at) for i in range(n)]
    started = time.perf_counter()
    for k in range(0, n, batch):
        client.insert(
            "anchor.events",
            rows[k : k + batch],
            column_names=list(EVENT_COLUMNS),
            settings={"insert_deduplication_token": f"anchor-{k}"},  # as the sink inserts
        )
    took = time.perf_counter() - started
    client.close()
    return n / took
