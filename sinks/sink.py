"""The ClickHouse sink: Kafka batches -> rows -> insert -> commit offsets, in that order.

Offsets are committed only after ClickHouse has the rows (at-least-once); a replayed batch
cannot double-count because inserts carry a deduplication token and every table collapses
rows by identity (see sinks/migrations/0001_initial.sql). When ClickHouse is down the sink
retries the same batch with backoff and consumes nothing new: backpressure, not loss.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from prometheus_client import Counter, Histogram

from eventline.core.errors import EventlineError
from eventline.core.instance import instance_id
from eventline.core.settings import Settings
from eventline.core.topics import Topics
from eventline.schemas.codec import codec
from eventline.schemas.model import now
from eventline.sinks import queries, rows
from eventline.sinks.lag import SinkProgress
from eventline.sinks.routes import COLUMNS, Row, routes, row_of
from eventline.sinks.store import RowsRefused, Store

log = logging.getLogger(__name__)

BATCH_ROWS = Histogram(
    "eventline_sink_batch_rows",
    "Rows per ClickHouse insert batch",
    buckets=(1, 10, 50, 100, 500, 1000, 2000, 5000, 10000),
)
INSERT_SECONDS = Histogram("eventline_sink_insert_seconds", "ClickHouse insert latency")
ROWS_WRITTEN = Counter("eventline_sink_rows_total", "Rows written to ClickHouse", ["table"])
SINK_ERRORS = Counter("eventline_sink_errors_total", "Sink errors", ["kind"])
FAILED_RECORDS = Counter(
    "eventline_sink_failed_records_total",
    "Records the sink could not store (refused by ClickHouse or undecodable), reported as "
    "failed in incoming_events",
    ["topic"],
)


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
        self._incoming = topics.incoming
        self._routes = routes(topics)
        self._stop = threading.Event()
        self._progress = SinkProgress()
        self._held: list[Message] = []  # polled during a retry: first in the next batch
        group = group_id or topics.sink_group
        self._consumer = Consumer(
            {
                "bootstrap.servers": settings.bootstrap(),
                "group.id": group,
                "session.timeout.ms": int(settings.worker_session_timeout_s * 1000),
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "logger": logging.getLogger("librdkafka"),
                # Static membership for the sink of the deployment (not a replay's own group):
                # started again after a crash, it takes its partitions back at once.
                **({"group.instance.id": instance_id(settings, group)} if group_id is None else {}),
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
        self._consumer.subscribe(
            list(self._routes), on_assign=lambda c, parts: self._progress.assigned(c, parts)
        )
        try:
            while not self._stop.is_set():
                self._progress.report(self._consumer)
                try:
                    batch = self._held + self._consumer.consume(
                        self.settings.sink_batch_size, self.settings.sink_batch_wait_s
                    )
                    self._held = []
                except KafkaException as exc:
                    _raise_if_fatal(exc.args[0] if exc.args else None)
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
        with _collector_paused():
            parts = _partitions(batch)
        while True:
            try:
                self.write_batch(batch, parts)
                break
            except Exception as exc:
                SINK_ERRORS.labels("insert").inc()
                log.warning("sink batch failed, retrying in %.1fs: %s", delay, exc)
                if not paused:
                    # Backpressure: fetch nothing new, but keep polling so the group keeps us.
                    self._consumer.pause(self._consumer.assignment())
                    paused = True
                self._hand_back(self._consumer.poll(delay))
                self._progress.report(self._consumer)
                if self._stop.is_set():
                    return  # uncommitted: the batch is consumed again on restart
                delay = min(delay * 2, 10.0)
        if paused:
            self._consumer.resume(self._consumer.assignment())
        offsets = _next_offsets(batch, parts)
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
            self._progress.committed(offsets)
        except KafkaException as exc:
            # E.g. partitions moved during a long retry: their new owner re-reads the batch,
            # and the re-insert collapses (dedup token, ReplacingMergeTree).
            SINK_ERRORS.labels("commit").inc()
            log.warning("offset commit failed, batch will be replayed: %s", exc)

    def _hand_back(self, msg: Message | None) -> None:
        """Keep a record a poll returned while a batch is retried (from a partition assigned
        meanwhile, so not paused) for the next batch, and pause its partition."""
        if msg is None or msg.error() is not None:
            return
        self._held.append(msg)
        topic, partition, _offset = _position(msg)
        self._consumer.pause([TopicPartition(topic, partition)])

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

    def write_batch(self, batch: list[Message], parts: Partitions | None = None) -> None:
        """Write one batch of Kafka messages to ClickHouse (no commit). A record ClickHouse
        refuses, or that cannot be decoded, becomes a ``failed`` row of incoming_events with
        the reason, and the rest of the batch is written. (``parts``: its records by
        partition, when the caller has them already.)"""
        with _collector_paused():
            self._write_batch(batch, _batch_token(batch, parts))

    def _write_batch(self, batch: list[Message], token: str) -> None:
        blocks: dict[str, _Block] = {}
        failed: list[tuple[Any, ...]] = []
        erased = self._erased()
        at = now()
        for msg in batch:
            error = msg.error()
            if error is not None:
                _raise_if_fatal(error)
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consume error: %s", error)
                continue
            route = self._routes[msg.topic()]  # type: ignore[index]
            try:
                row = row_of(route, msg.value() or b"", erased, at)
            except Exception as exc:  # whatever a record holds, it gets a visible status
                failed += self._refusal(msg, f"cannot be decoded or stored: {exc}", decoded=False)
                continue
            if row is not None:
                block = blocks.get(route.table)
                if block is None:
                    block = blocks[route.table] = _Block()
                block.rows.append(row)
                block.msgs.append(msg)
        # incoming_events last: a status never gets ahead of the rows it speaks about.
        for table in sorted(blocks, key=lambda t: t == "incoming_events"):
            block = blocks[table]
            for index, reason in self._insert(table, block.rows, f"{token}:{table}"):
                failed += self._refusal(block.msgs[index], f"ClickHouse refused it: {reason}")
        if failed:
            refused = self._insert("incoming_events", failed, token + ":f")
            for _index, reason in refused:  # cannot happen for storable rows: said, not looped
                SINK_ERRORS.labels("refusal_refused").inc()
                log.error("the failure of a record cannot be recorded either: %s", reason)

    def _insert(self, table: str, batch: list[Row], token: str) -> list[tuple[int, str]]:
        """Insert the rows; return the index of those ClickHouse refuses, with the reason. A
        refused block is split in halves until the rows at fault are alone. TransientError
        (ClickHouse away or busy) goes up: the caller retries the whole batch."""
        started = time.perf_counter()
        try:
            self.store.insert(table, batch, COLUMNS[table], token)
        except RowsRefused as exc:
            if len(batch) == 1:
                return [(0, str(exc.__cause__ or exc))]
            half = len(batch) // 2
            first = self._insert(table, batch[:half], token + "<")
            second = self._insert(table, batch[half:], token + ">")
            return first + [(half + index, reason) for index, reason in second]
        INSERT_SECONDS.observe(time.perf_counter() - started)
        BATCH_ROWS.observe(len(batch))
        ROWS_WRITTEN.labels(table).inc(len(batch))
        return []

    def _refusal(self, msg: Message, reason: str, decoded: bool = True) -> list[tuple[Any, ...]]:
        """The incoming_events row that reports a record that cannot be stored, if any: one
        ClickHouse refused (``decoded``), or one that could not be decoded or made a row."""
        topic, partition, offset = _position(msg)
        FAILED_RECORDS.labels(topic).inc()
        log.error("%s[%d]@%d: %s", topic, partition, offset, reason)
        record = None
        if decoded:  # it was decoded once: again, with its times as datetimes
            record = codec().decode(self._routes[topic].schema, msg.value() or b"")
        if topic == self._incoming and record is None:
            return []  # undecodable input: the worker reports it as a failed event
        try:
            return [rows.refusal_row(topic, (partition, offset), record, reason[:4096], now())]
        except Exception:  # a record too odd to describe: its position still says it
            return [rows.refusal_row(topic, (partition, offset), None, reason[:4096], now())]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a batch is written: the batch's records
    live until it is written, and each young-generation pass (one per 700 objects made)
    walks them again, ~10% of the sink's time, for no cycle to find (they are freed by
    reference counting). Left as found: the collector resumes after the batch."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Block:
    """The rows of one table in a batch, and the Kafka record of each."""

    __slots__ = ("msgs", "rows")

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.msgs: list[Message] = []


def _raise_if_fatal(error: Any) -> None:
    """A fatal consumer error (another live process took this sink's name in its group, for
    one) ends the sink: it could only loop on it."""
    if isinstance(error, KafkaError) and error.fatal():
        raise EventlineError(
            f"the sink's Kafka consumer failed for good: {error.str()} (two sinks with one "
            "EVENTLINE_INSTANCE_ID and home? each process needs its own name in the group)"
        )


def _position(msg: Message) -> tuple[str, int, int]:
    """(topic, partition, offset) of a consumed message (always set when error() is None)."""
    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
    assert topic is not None and partition is not None and offset is not None
    return topic, partition, offset


Partitions = dict[tuple[str, int], list[tuple[int, bytes]]]


def _partitions(batch: list[Message]) -> Partitions:
    """(topic, partition) -> its records' (offset, value), by offset: one pass for the token
    and the offsets to commit."""
    parts: Partitions = {}
    for msg in batch:
        if msg.error() is None:
            topic, partition, offset = _position(msg)
            entries = parts.get((topic, partition))
            if entries is None:
                entries = parts[(topic, partition)] = []
            entries.append((offset, msg.value() or b""))
    for entries in parts.values():
        entries.sort()  # in offset order already, but for records held back in a retry
    return parts


def _next_offsets(batch: list[Message], parts: Partitions | None = None) -> list[TopicPartition]:
    parts = _partitions(batch) if parts is None else parts
    return [TopicPartition(t, p, entries[-1][0] + 1) for (t, p), entries in parts.items()]


def _batch_token(batch: list[Message], parts: Partitions | None = None) -> str:
    """Identity of a batch: its offset ranges and contents. A retry of the same batch has the
    same token; a batch of recreated topics that reuses offsets does not."""
    parts = _partitions(batch) if parts is None else parts
    content = hashlib.blake2b(digest_size=16)
    ranges = []
    for topic, partition in sorted(parts):
        entries = parts[(topic, partition)]
        content.update(b"".join(value for _offset, value in entries))
        ranges.append(f"{topic}/{partition}/{entries[0][0]}-{entries[-1][0]}")
    text = ";".join(ranges)
    return hashlib.sha256(text.encode()).hexdigest()[:24] + content.hexdigest()[:16]
