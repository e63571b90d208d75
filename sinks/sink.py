"""The ClickHouse sink: Kafka batches -> rows -> insert -> commit offsets, in that order.

Offsets are committed only after ClickHouse has the rows (at-least-once); a replayed batch
cannot double-count because inserts carry a deduplication token and every table collapses
rows by identity (see sinks/migrations/0001_initial.sql). When ClickHouse is down the sink
retries the same batch with backoff and consumes nothing new: backpressure, not loss.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from prometheus_client import Counter, Histogram

from eventline.errors import InvalidEvent
from eventline.settings import Settings
from eventline.topics import Topics
from schemas.codec import codec
from sinks import queries, rows
from sinks.store import Store

log = logging.getLogger(__name__)

BATCH_ROWS = Histogram(
    "eventline_sink_batch_rows",
    "Rows per ClickHouse insert batch",
    buckets=(1, 10, 50, 100, 500, 1000, 2000, 5000, 10000),
)
INSERT_SECONDS = Histogram("eventline_sink_insert_seconds", "ClickHouse insert latency")
ROWS_WRITTEN = Counter("eventline_sink_rows_total", "Rows written to ClickHouse", ["table"])
SINK_ERRORS = Counter("eventline_sink_errors_total", "Sink errors", ["kind"])

Mapper = Callable[[dict[str, Any]], tuple[Any, ...] | None]


class ClickHouseSink:
    """Consumes the output topics and writes them to ClickHouse; run it with ``run()``."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        group_id: str | None = None,
        erased: Callable[[], Mapping[tuple[str, str], datetime]] | None = None,
    ) -> None:
        """``erased`` gives the (account, event type) pairs whose events received up to a
        cutoff must not be in ClickHouse (deleted event types): the sink deletes the rows
        already written and never writes them again, even when it replays a topic."""
        self.settings = settings
        self.store = store
        self._erased = erased or dict
        self._erasures_done: set[tuple[str, str, datetime]] = set()
        topics = Topics(settings.topic_prefix)
        # topic -> (schema, table, columns, mapper)
        self._routes: dict[str, tuple[str, str, tuple[str, ...], Mapper]] = {
            topics.incoming: (
                "IncomingRecord",
                "incoming_events",
                rows.INCOMING_COLUMNS,
                _received_row,
            ),
            topics.event_status: (
                "EventStatus",
                "incoming_events",
                rows.INCOMING_COLUMNS,
                rows.status_row,
            ),
            topics.events: ("CanonicalEvent", "events", rows.EVENT_COLUMNS, rows.event_row),
            topics.contacts: ("Contact", "contacts", rows.CONTACT_COLUMNS, rows.contact_row),
            topics.tags: ("TagChange", "tag_changes", rows.TAG_CHANGE_COLUMNS, rows.tag_change_row),
            topics.segments: (
                "SegmentTransition",
                "segment_transitions",
                rows.TRANSITION_COLUMNS,
                rows.transition_row,
            ),
            topics.workflows: (
                "WorkflowTrigger",
                "workflow_triggers",
                rows.TRIGGER_COLUMNS,
                rows.trigger_row,
            ),
        }
        self._stop = threading.Event()
        self._consumer = Consumer(
            {
                "bootstrap.servers": settings.bootstrap(),
                "group.id": group_id or f"{settings.topic_prefix}-clickhouse-sink",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "logger": logging.getLogger("librdkafka"),
            }
        )

    def stop(self) -> None:
        """Ask ``run()`` to return after the batch in hand (its consumer closes on the way)."""
        self._stop.set()

    def close(self) -> None:
        """Close the consumer of a sink that was never run."""
        self._consumer.close()

    def run(self) -> None:
        """Consume until ``stop()``; each batch is written, then committed."""
        self._consumer.subscribe(list(self._routes))
        try:
            while not self._stop.is_set():
                try:
                    batch = self._consumer.consume(
                        self.settings.sink_batch_size, self.settings.sink_batch_wait_s
                    )
                except KafkaException as exc:
                    SINK_ERRORS.labels("consume").inc()
                    log.warning("consume failed, retrying: %s", exc)
                    self._stop.wait(1.0)
                    continue
                self._erase()
                if batch:
                    self._write_until_done(batch)
        finally:
            self._consumer.close()

    def _write_until_done(self, batch: list[Message]) -> None:
        """Insert the batch, retrying until ClickHouse takes it, then commit its offsets."""
        delay = 0.2
        paused = False
        while True:
            try:
                self.write_batch(batch)
                break
            except Exception as exc:
                SINK_ERRORS.labels("insert").inc()
                log.warning("sink batch failed, retrying in %.1fs: %s", delay, exc)
                if not paused:
                    # Backpressure: fetch nothing new, but keep polling so the group keeps us.
                    self._consumer.pause(self._consumer.assignment())
                    paused = True
                self._consumer.poll(delay)
                if self._stop.is_set():
                    return  # uncommitted: the batch is consumed again on restart
                delay = min(delay * 2, 10.0)
        if paused:
            self._consumer.resume(self._consumer.assignment())
        try:
            self._consumer.commit(offsets=_next_offsets(batch), asynchronous=False)
        except KafkaException as exc:
            # E.g. partitions moved during a long retry: their new owner re-reads the batch,
            # and the re-insert collapses (dedup token, ReplacingMergeTree).
            SINK_ERRORS.labels("commit").inc()
            log.warning("offset commit failed, batch will be replayed: %s", exc)

    def _erase(self) -> None:
        """Delete the rows of newly erased event types (in this thread, between inserts, so
        no batch built before the erasure lands after it)."""
        for (account, event_type), cutoff in self._erased().items():
            if (account, event_type, cutoff) in self._erasures_done:
                continue
            try:
                queries.delete_events_of_type(self.store, account, event_type, cutoff)
            except Exception as exc:
                SINK_ERRORS.labels("erase").inc()
                log.warning("erasing %s/%s failed, retrying later: %s", account, event_type, exc)
                continue
            self._erasures_done.add((account, event_type, cutoff))

    def write_batch(self, batch: list[Message]) -> None:
        """Write one batch of Kafka messages to ClickHouse (no commit)."""
        by_table: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        columns: dict[str, tuple[str, ...]] = {}
        erased = self._erased()
        for msg in batch:
            error = msg.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consume error: %s", error)
                continue
            row = self._row(msg, erased)
            if row is not None:
                table, cols, values = row
                by_table[table].append(values)
                columns[table] = cols
        token = _batch_token(batch)
        # incoming_events last: a status never gets ahead of the rows it speaks about.
        for table in sorted(by_table, key=lambda t: t == "incoming_events"):
            table_rows = by_table[table]
            started = time.perf_counter()
            self.store.insert(table, table_rows, columns[table], f"{token}:{table}")
            INSERT_SECONDS.observe(time.perf_counter() - started)
            BATCH_ROWS.observe(len(table_rows))
            ROWS_WRITTEN.labels(table).inc(len(table_rows))

    def _row(
        self, msg: Message, erased: Mapping[tuple[str, str], datetime]
    ) -> tuple[str, tuple[str, ...], tuple[Any, ...]] | None:
        schema, table, cols, mapper = self._routes[_position(msg)[0]]
        try:
            record = codec().decode(schema, msg.value() or b"")
        except InvalidEvent as exc:
            # Undecodable input on the incoming topic is reported by the worker as a failed
            # event; on our own topics it is a bug, logged and counted loudly.
            SINK_ERRORS.labels("undecodable").inc()
            log.error("skipping %s[%d]@%d: %s", msg.topic(), msg.partition(), msg.offset(), exc)
            return None
        if table == "events" and _is_erased(record, erased):
            return None
        values = mapper(record)
        return None if values is None else (table, cols, values)


def _is_erased(event: dict[str, Any], erased: Mapping[tuple[str, str], datetime]) -> bool:
    cutoff = erased.get((event["account_id"], event.get("event_type") or ""))
    return cutoff is not None and event["received_at"] <= cutoff


def _received_row(record: dict[str, Any]) -> tuple[Any, ...] | None:
    if record["kind"] == "IDENTITY":
        return None  # internal identity claims are not requests a sender made
    return rows.incoming_row(record, "received", record["received_at"])


def _position(msg: Message) -> tuple[str, int, int]:
    """(topic, partition, offset) of a consumed message (always set when error() is None)."""
    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
    assert topic is not None and partition is not None and offset is not None
    return topic, partition, offset


def _next_offsets(batch: list[Message]) -> list[TopicPartition]:
    last: dict[tuple[str, int], int] = {}
    for msg in batch:
        if msg.error() is None:
            topic, partition, offset = _position(msg)
            last[(topic, partition)] = max(last.get((topic, partition), -1), offset)
    return [TopicPartition(t, p, offset + 1) for (t, p), offset in last.items()]


def _batch_token(batch: list[Message]) -> str:
    """Identity of a batch: its offset ranges and contents. A retry of the same batch has the
    same token; a batch of recreated topics that reuses offsets does not."""
    ranges: dict[tuple[str, int], tuple[int, int]] = {}
    content = hashlib.blake2b(digest_size=16)
    for msg in sorted((m for m in batch if m.error() is None), key=_position):
        topic, partition, offset = _position(msg)
        lo, hi = ranges.get((topic, partition), (offset, offset))
        ranges[(topic, partition)] = (min(lo, offset), max(hi, offset))
        content.update(msg.value() or b"")
    text = ";".join(f"{t}/{p}/{lo}-{hi}" for (t, p), (lo, hi) in sorted(ranges.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:24] + content.hexdigest()[:16]
