"""Anchor: a plain confluent-kafka loop: consume 1,000, decode Avro, join a contact dict,
encode, produce two outputs (canonical event, status), flush, commit."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, Producer

from bench.anchors.records import producer_config
from eventline.schemas.codec import codec


def _contact(key: str, record: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {"contact_id": str(uuid.uuid5(uuid.NAMESPACE_URL, key)), "email": record["email"],
            "user_id": None, "attributes_json": "{}", "created_at": at}  # fmt: skip


def _canonical(record: dict[str, Any], contact: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {
        **{k: record[k] for k in ("event_id", "account_id", "name", "received_at", "source")},
        **{k: record[k] for k in ("properties_json", "value", "is_syncing", "idempotency_key")},
        "occurred_at": record["occurred_at"] or record["received_at"],
        "processed_at": at,
        "contact_id": contact["contact_id"],
        "contact_email": contact["email"],
        "contact_user_id": contact["user_id"],
        "contact_attributes_json": contact["attributes_json"],
        "event_type": record.get("event_type"),
    }


def plain_loop(bootstrap: str, source: str, outputs: tuple[str, str], n: int) -> float:
    """Events/s of the loop over the first n records of ``source`` (from the first batch
    read: joining the group is not timed)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"anchor-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})  # fmt: skip
    producer = Producer(producer_config(bootstrap))
    consumer.subscribe([source])
    avro, contacts = codec(), dict[str, dict[str, Any]]()
    done, started = 0, 0.0
    deadline = time.monotonic() + 300
    while done < n and time.monotonic() < deadline:
        batch = [m for m in consumer.consume(1000, 1.0) if m.error() is None]
        if not batch:
            continue
        started = started or time.perf_counter()
        at = datetime.now(UTC)
        for msg in batch:
            key = (msg.key() or b"").decode()
            record = avro.decode("IncomingRecord", msg.value() or b"")
            contact = contacts.get(key) or contacts.setdefault(key, _contact(key, record, at))
            event = avro.encode("CanonicalEvent", _canonical(record, contact, at))
            status = {"record": record, "status": "PROCESSED", "process_error": None,
                      "raw": None, "updated_at": at}  # fmt: skip
            producer.produce(outputs[0], event, key.encode())
            producer.produce(outputs[1], avro.encode("EventStatus", status), record["event_id"])
            producer.poll(0)
        producer.flush(60)
        consumer.commit(asynchronous=False)
        done += len(batch)
    took = time.perf_counter() - started
    consumer.close()
    if done < n:
        raise TimeoutError(f"plain loop: {done} of {n} records in 300 s")
    return done / took
