"""The records the anchors move: Avro IncomingRecords as the gateway writes them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from eventline.schemas.codec import codec
from eventline.schemas.model import incoming_record

ACCOUNT = "anchor"


def incoming(i: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The IncomingRecord of event ``i`` (or of a posted JSON ``body``)."""
    body = body or {"email": f"a{i % 1000}@example.com", "name": "viewed_product",
                    "properties": {"sku": f"SKU-{i % 50}", "i": i}, "value": 1.0}  # fmt: skip
    at = datetime.now(UTC)
    return incoming_record(
        account_id=ACCOUNT,
        event_id=str(uuid.uuid4()),
        receipt_id=str(uuid.uuid4()),
        received_at=at,
        source="api",
        email=body.get("email"),
        name=body.get("name"),
        occurred_at=at,
        properties_json=json.dumps(body.get("properties") or {}),
        value=body.get("value"),
    )


def encoded(i: int) -> tuple[bytes, bytes]:
    """(key, value) of event ``i``, keyed by its identity as the gateway keys it."""
    record = incoming(i)
    return f"{ACCOUNT}/email/{record['email']}".encode(), codec().encode("IncomingRecord", record)


def producer_config(bootstrap: str, **extra: Any) -> dict[str, Any]:
    """What the issue's anchors use: acks=all, idempotent, lz4 (librdkafka's defaults else)."""
    return {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": "lz4",
        "log_level": 3,  # errors only: a broker still electing its coordinator is no news
        **extra,
    }
