"""The sink's rows/s beside a raw clickhouse-connect insert of the same rows, in one run.

``measure_sink(settings, records)`` writes ``records`` records onto fresh topics of the broker
in ``settings`` (received records, their processed statuses, canonical events and contacts, in
the proportions the worker writes them: one of each per event, a contact per ten events),
then times two things against the process's ClickHouse, each into fresh tables:

- raw: clickhouse-connect's ``insert`` of the rows those records become, 10,000 rows a call,
  table by table (the client alone: no Kafka, no decoding, no dedup token);
- sink: a new ``ClickHouseSink`` (own consumer group, batches of 10,000 records) replaying
  the topics until it has committed every record. Its clock starts at its first commit, so
  joining the group is not counted, and stops when the last offset is committed.

Every record is one row, so rows/s of both are comparable. ``python -m bench.sink_replay``
starts its own broker and embedded ClickHouse and prints the line (run it under the broker
lock: ``flock /tmp/eventline-broker.lock python -m bench.sink_replay``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from bench.procs import local_broker
from eventline.core.settings import Settings
from eventline.core.topics import Topics, ensure_topics
from eventline.producers.validation import parse_event
from eventline.schemas.codec import codec
from eventline.schemas.model import contact_key, minted_contact_id, now, routing_key
from eventline.sinks import rows
from eventline.sinks.sink import ClickHouseSink
from eventline.sinks.store import Store, open_store

BATCH = 10_000
EVENTS_PER_CONTACT = 10


@dataclass(frozen=True)
class SinkFigures:
    """Rows per second of the sink and of the raw insert, measured in the same run."""

    sink_rows_per_s: float
    raw_rows_per_s: float
    rows: int

    @property
    def ratio(self) -> float:
        return self.sink_rows_per_s / self.raw_rows_per_s

    def line(self) -> str:
        return (
            f"sink                 : {self.sink_rows_per_s:8.0f} rows/s, raw clickhouse-connect "
            f"insert {self.raw_rows_per_s:8.0f} rows/s, ratio {self.ratio:.2f} ({self.rows} rows,"
            f" batches of {BATCH})"
        )


def measure_sink(
    settings: Settings, records: int = 200_000, store: Store | None = None
) -> SinkFigures:
    """Produce ``records`` sink records on fresh topics, then time the raw insert of their rows
    and a fresh sink replaying them (see the module's docstring). ``store`` is the process's
    ClickHouse (chDB runs one engine per process); by default ``open_store(settings)``."""
    run = uuid.uuid4().hex[:6]
    own = settings.model_copy(
        update={
            "topic_prefix": f"{settings.topic_prefix}-sinkbench-{run}",
            "clickhouse_database": f"{settings.clickhouse_database}_sinkbench_{run}",
            "sink_batch_size": BATCH,
        }
    )
    base = store or open_store(settings)
    work = _workload(Topics(own.topic_prefix), records, run)
    _produce(own, work)
    raw_db = base.sibling(f"{own.clickhouse_database}_raw")
    sink_db = base.sibling(own.clickhouse_database)
    try:
        raw = _raw_insert(raw_db, work)
        sink = _sink_replay(own, sink_db, len(work))
        _check_stored(sink_db, work)
    finally:
        for db in (raw_db, sink_db):
            db.command(f"DROP DATABASE IF EXISTS {db.database}")
    return SinkFigures(sink, raw, len(work))


Work = list[tuple[str, str, str, dict[str, Any]]]  # (topic, key, schema, record)


def _workload(topics: Topics, records: int, run: str) -> Work:
    """What the worker writes for ``records`` / 3.1 events of a mid-size sender."""
    work: Work = []
    at = now()
    account = f"acct-{run}"
    contacts: dict[str, dict[str, Any]] = {}
    i = 0
    while len(work) < records:
        email = f"user{i // EVENTS_PER_CONTACT}.{run}@example.com"
        received = at + timedelta(milliseconds=i)
        data = {
            "email": email,
            "name": ("viewed_product", "added_to_cart", "purchase")[i % 3],
            "idempotency_key": f"{run}-{i}",
            "properties": {"sku": f"SKU-{i % 500}", "price": 19.9 + i % 7, "page": f"/p/{i % 97}"},
            "value": float(i % 50),
        }
        record = parse_event(data, account=account, source="api", received_at=received)
        key = routing_key(record)
        work.append((topics.incoming, key, "IncomingRecord", record))  # as the gateway writes it
        contact_id = minted_contact_id(key)
        record = {**record, "contact_id": contact_id}  # as the worker resolved it
        ckey = contact_key(account, contact_id)
        contact = contacts.get(contact_id)
        if contact is None:
            ms = int(received.timestamp() * 1000)
            attributes = {"first_name": f"Name{i}", "plan": "pro", "country": "FR"}
            contact = {
                "account_id": account,
                "contact_id": contact_id,
                "email": email,
                "user_id": None,
                "attributes_json": json.dumps(attributes, separators=(",", ":")),
                "created_at": ms,
                "updated_at": ms,
                "last_change_id": record["event_id"],
                "tags": [],
            }
            contacts[contact_id] = contact
            work.append((topics.contacts, ckey, "Contact", contact))
        work.append((topics.events, ckey, "CanonicalEvent", _canonical(record, contact)))
        status = {
            "record": record,
            "status": "PROCESSED",
            "process_error": None,
            "raw": None,
            "updated_at": received + timedelta(milliseconds=5),
        }
        work.append((topics.event_status, record["event_id"], "EventStatus", status))
        i += 1
    return work[:records]


def _canonical(record: dict[str, Any], contact: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": record["event_id"],
        "account_id": record["account_id"],
        "contact_id": contact["contact_id"],
        "name": record["name"],
        "occurred_at": record["occurred_at"] or record["received_at"],
        "received_at": record["received_at"],
        "processed_at": record["received_at"] + timedelta(milliseconds=5),
        "properties_json": record["properties_json"],
        "value": record["value"],
        "is_syncing": record["is_syncing"],
        "source": record["source"],
        "idempotency_key": record["idempotency_key"],
        "contact_email": contact["email"],
        "contact_user_id": contact["user_id"],
        "contact_attributes_json": contact["attributes_json"],
        "event_type": record.get("event_type"),
    }


def _produce(settings: Settings, work: Work) -> None:
    ensure_topics(settings)
    producer = Producer(
        {
            "bootstrap.servers": settings.bootstrap(),
            "compression.type": "lz4",  # as eventline's producers write
            "linger.ms": 20,
            "partitioner": "murmur2_random",
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    for topic, key, schema, record in work:
        producer.produce(topic, key=key.encode(), value=codec().encode(schema, record))
        producer.poll(0)
    if producer.flush(120) != 0:
        raise RuntimeError("the benchmark's records were not all delivered")


def _received_row(record: dict[str, Any]) -> tuple[Any, ...]:
    return rows.incoming_row(record, "received", record["received_at"])


_MAPPERS: dict[str, tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]]]] = {
    "IncomingRecord": ("incoming_events", _received_row),
    "EventStatus": ("incoming_events", rows.status_row),
    "CanonicalEvent": ("events", rows.event_row),
    "Contact": ("contacts", rows.contact_row),
}
_COLUMNS = {
    "incoming_events": rows.INCOMING_COLUMNS,
    "events": rows.EVENT_COLUMNS,
    "contacts": rows.CONTACT_COLUMNS,
}


def _raw_insert(store: Store, work: Work) -> float:
    """rows/s of clickhouse-connect inserting the rows of ``work``, BATCH rows a call."""
    store.migrate()
    by_table: dict[str, list[tuple[Any, ...]]] = {t: [] for t in _COLUMNS}
    for _topic, _key, schema, record in work:
        table, mapper = _MAPPERS[schema]
        by_table[table].append(mapper(record))
    client = store.raw_client
    started = time.perf_counter()
    for table, table_rows in by_table.items():
        for lo in range(0, len(table_rows), BATCH):
            client.insert(
                f"{store.database}.{table}",
                table_rows[lo : lo + BATCH],
                column_names=list(_COLUMNS[table]),
            )
    return len(work) / (time.perf_counter() - started)


def _sink_replay(settings: Settings, store: Store, total: int) -> float:
    """rows/s of a fresh sink, from its first commit to its last."""
    store.migrate()
    topics = Topics(settings.topic_prefix)
    group = f"bench-sink-{uuid.uuid4()}"
    sink = ClickHouseSink(settings, store, group_id=group)
    parts = [
        TopicPartition(t, p)
        for t in (topics.incoming, topics.event_status, topics.events, topics.contacts)
        for p in range(settings.partitions)
    ]
    watcher = Consumer({"bootstrap.servers": settings.bootstrap(), "group.id": group})
    thread = threading.Thread(target=sink.run, name="bench-sink", daemon=True)
    thread.start()
    try:
        first: tuple[float, int] | None = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                done = sum(max(tp.offset, 0) for tp in watcher.committed(parts, timeout=10))
            except KafkaException:  # the group's coordinator not elected yet: ask again
                done = 0
            if done and first is None:
                first = (time.monotonic(), done)
            if done >= total:
                assert first is not None
                took = time.monotonic() - first[0]
                return (total - first[1]) / took if took > 0 else float("inf")
            time.sleep(0.02)
        raise TimeoutError("the benchmark's sink did not commit every record in 600 s")
    finally:
        sink.stop()
        thread.join(60)
        watcher.close()


def _check_stored(store: Store, work: Work) -> None:
    """Every record is in ClickHouse once: the figure is for a sink that did its job."""
    events = sum(1 for _t, _k, schema, _r in work if schema == "CanonicalEvent")
    received = sum(1 for _t, _k, schema, _r in work if schema == "IncomingRecord")
    contacts = sum(1 for _t, _k, schema, _r in work if schema == "Contact")
    found = {
        table: store.query(f"SELECT count() AS n FROM {{db}}.{table} FINAL")[0]["n"]
        for table in _COLUMNS
    }
    wanted = {"incoming_events": received, "events": events, "contacts": contacts}
    if found != wanted:
        raise RuntimeError(f"the sink stored {found}, expected {wanted}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000, help="records on the topics")
    parser.add_argument("--repeat", type=int, default=1, help="measurements in this run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="eventline-sinkbench-") as home:
        broker = local_broker(Path(home) / "kafka")
        settings = Settings(home=Path(home), kafka_bootstrap=broker.start(), topic_prefix="sb")
        try:
            for _ in range(args.repeat):
                print(measure_sink(settings, args.records).line(), flush=True)
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
