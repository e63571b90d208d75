"""No record is skipped: an agent handles every offset of its partitions, once, in order.

The worker's input topics (incoming, by-contact) are neither compacted nor transactional, so
their offsets have no holes: every offset is a record someone wrote. Faust (0.15.3) can still
drop records it has fetched, while the fetch position has moved past them:
- its recovery resumes fetching stream partitions before it seeks them, then empties every
  stream buffer when flow resumes;
- its fetch loop breaks off a fetched batch when the consumer generation changes or flow
  stops, and filters out records of partitions it does not consider active.
Its fetch loop then takes the hole for a compaction gap and counts it as acknowledged
(``Consumer._add_gap``), and its commit check tolerates a hole of one offset, so the commit
goes past records that were never processed: an acknowledged event lost (seen here as an event
stuck in ``received`` after a worker kill, and as the first records of each partition missing
after a restart with large tables).

``OffsetGuard`` knows the next offset each partition must deliver (the committed offset when a
generation starts, or the earliest offset of a partition its group never committed on, then
the last handled + 1):
- the expected record is handled;
- a record beyond it means records were dropped: they are read from Kafka directly (a
  consumer of the guard's own, so Faust's fetch position is left alone) and handled first,
  in order, then the record; Faust's note of the hole as a gap is struck out, so no commit
  passes them before they are acknowledged;
- a record before it was handled already in this generation (fetched again): it is skipped;
- a partition that delivers nothing for a while although Kafka has records past the expected
  offset (a dropped record was its last) is sought back (``idle``).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

from confluent_kafka import Consumer, TopicPartition
from faust.types import TP, Message
from prometheus_client import Counter

from eventline.core.progress import PartitionProgress, gauges, publish

log = logging.getLogger(__name__)

RECOVERED = Counter(
    "eventline_worker_recovered_records_total",
    "Records Faust skipped, read again from Kafka and handled in their turn",
)
REWOUND = Counter(
    "eventline_worker_rewound_partitions_total",
    "Partitions sought back because nothing came although records wait",
)
LAG, STALLED = gauges("eventline_worker", "worker")
IDLE_AFTER_S = 3.0  # no delivery for this long while records wait: sought back
GAP_READ_TIMEOUT_S = 60.0  # skipped records not read again by then: the agent tries again
GONE = Counter(
    "eventline_worker_records_lost_to_retention_total",
    "Records removed by the topic's retention before the worker read them",
)

Verdict = Literal["handle", "hole", "skip"]


@dataclass
class OffsetGuard:
    """The next expected offset of each partition of one consumer generation. Pure."""

    generation: int = -1
    expected: dict[Any, int] = field(default_factory=dict)
    delivered: dict[Any, float] = field(default_factory=dict)  # tp -> last delivery

    def _generation(self, generation: int) -> None:
        if generation != self.generation:  # a new assignment starts at the committed offsets
            self.generation, self.expected, self.delivered = generation, {}, {}

    def check(
        self, tp: Any, offset: int, committed: int | None, generation: int, now: float
    ) -> tuple[Verdict, int]:
        """What to do with a record at ``offset``; for a hole, the first missing offset."""
        self._generation(generation)
        self.delivered[tp] = now
        expected = self.expected.get(tp, committed)
        if expected is not None and offset < expected:
            return "skip", expected
        self.expected[tp] = offset + 1
        if expected is None or offset == expected:
            return "handle", offset
        return "hole", expected

    def idle(
        self, tp: Any, end: int | None, committed: int | None, generation: int, now: float
    ) -> int | None:
        """The offset to seek ``tp`` back to when it has delivered nothing for a while
        although Kafka has records from its expected offset on (``end``: its end offset)."""
        self._generation(generation)
        expected = self.expected.get(tp, committed)
        last = self.delivered.get(tp)
        if expected is None or end is None or end <= expected:
            self.delivered[tp] = now  # nothing waits: idle is normal
            return None
        if last is None:
            self.delivered[tp] = now  # start counting from the first look
            return None
        if now - last < IDLE_AFTER_S:
            return None
        self.delivered[tp] = now
        return expected


class HeldReadOffsets(defaultdict[Any, int | None]):
    """Faust's read offsets (``Consumer._read_offset``), with partitions held after a seek.

    Faust's fetch loop drops any fetched record below a partition's read offset, and sets the
    read offset after each record it hands on. After a seek back, records fetched before the
    seek may still be on their way and push the read offset past the seek again, so that the
    records fetched anew are dropped. While a partition is held, its read offset reads as
    unknown (every record passes, no gap is recorded) and is not set.
    """

    def __init__(self, current: dict[Any, int | None]) -> None:
        super().__init__(lambda: None, current)
        self.held: set[Any] = set()

    def __getitem__(self, tp: Any) -> int | None:
        return None if tp in self.held else super().__getitem__(tp)

    def __setitem__(self, tp: Any, offset: int | None) -> None:
        if tp not in self.held:
            super().__setitem__(tp, offset)


class RecoveredEvent:
    """A record read again from Kafka, shaped like the Faust event it should have been."""

    def __init__(self, app: Any, message: Message) -> None:
        self.app = app
        self.message = message
        self.key = message.key
        self.value = message.value

    def ack(self) -> None:
        self.app.consumer.ack(self.message)


class GapReader:
    """Reads a range of offsets of one partition with a consumer of its own, opened for the
    read and closed after it (holes are rare: nothing is kept open between them)."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._asker: Consumer | None = None  # kept open: asked every few seconds
        self._asking = threading.Lock()

    def ends(self, partitions: list[Any]) -> dict[Any, int]:
        """The end offset of each partition (blocking: call in a thread)."""
        return {tp: high for tp, (_low, high) in self._watermarks(partitions).items()}

    def earliest(self, partitions: list[Any]) -> dict[Any, int]:
        """The earliest offset of each partition (blocking: call in a thread)."""
        return {tp: low for tp, (low, _high) in self._watermarks(partitions).items()}

    def _watermarks(self, partitions: list[Any]) -> dict[Any, tuple[int, int]]:
        with self._asking:
            if self._asker is None:
                self._asker = self._consumer()
            return {
                tp: self._asker.get_watermark_offsets(
                    TopicPartition(tp.topic, tp.partition), timeout=GAP_READ_TIMEOUT_S
                )
                for tp in partitions
            }

    def _consumer(self) -> Consumer:
        return Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"eventline-gap-reader-{uuid.uuid4()}",  # never commits
                "enable.auto.commit": False,
                "logger": logging.getLogger("librdkafka"),
            }
        )

    def read(self, topic: str, partition: int, start: int, end: int) -> list[Any]:
        """The records at offsets ``start`` to ``end - 1`` that Kafka has, in order (blocking:
        call in a thread). Offsets below the partition's log start (removed by retention)
        and offsets that hold no record (transaction markers) are not waited for: the read
        ends once the consumer's position reaches ``end``."""
        consumer = self._consumer()
        try:
            here = TopicPartition(topic, partition)
            low, _high = consumer.get_watermark_offsets(here, timeout=GAP_READ_TIMEOUT_S)
            if low > start:
                GONE.inc(min(low, end) - start)
                log.error(
                    "%s[%s] offsets %s..%s were removed by retention before the worker read "
                    "them: they cannot be handled",
                    topic,
                    partition,
                    start,
                    min(low, end) - 1,
                )
            first = max(start, low)
            if first >= end:
                return []
            consumer.assign([TopicPartition(topic, partition, first)])
            found: dict[int, Any] = {}
            deadline = time.monotonic() + GAP_READ_TIMEOUT_S
            while consumer.position([here])[0].offset < end:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{topic}[{partition}] {first}..{end - 1} not read in "
                        f"{GAP_READ_TIMEOUT_S:.0f}s"
                    )
                for record in consumer.consume(min(500, end - first), 1.0):
                    offset = record.offset()
                    if record.error() is None and offset is not None and first <= offset < end:
                        found[offset] = record
            return [found[offset] for offset in sorted(found)]
        finally:
            consumer.close()


class ContinuityGuard:
    """``OffsetGuard`` on one agent's topic of a Faust app."""

    def __init__(self, app: Any, topic: str, bootstrap: str) -> None:
        self.app = app
        self.topic = topic
        self.state = OffsetGuard()
        self.progress = PartitionProgress()
        self.reader = GapReader(bootstrap)
        consumer = app.consumer
        if not isinstance(consumer._read_offset, HeldReadOffsets):
            consumer._read_offset = HeldReadOffsets(consumer._read_offset)
        self.read_offsets: HeldReadOffsets = consumer._read_offset
        self._earliest: dict[TP, int | None] = {}

    async def _start(self, tp: TP) -> int | None:
        """Where ``tp`` starts for this group: its committed offset; with none, its earliest
        record (the group reads from the earliest, and Faust commits a first batch wherever
        it starts: records it dropped before it would be lost unnoticed)."""
        committed: int | None = self.app.consumer._committed_offset.get(tp)
        if committed is not None:
            return committed
        if tp not in self._earliest:
            # Asked by the guard's own consumer: Faust's answers behind each pending fetch
            # (a long poll of up to 1.5 s per partition: 4.5 s before a new group's first
            # record was handled).
            found = await asyncio.to_thread(self.reader.earliest, [tp])
            self._earliest[tp] = found.get(tp)
        return self._earliest[tp]

    async def admit(self, event: Any) -> list[Any]:
        """The events the agent handles now, in order: none (handled already), the event,
        or the records Faust skipped before it followed by the event."""
        message = event.message
        tp = TP(message.tp.topic, message.tp.partition)
        consumer = self.app.consumer
        generation = self.app.consumer_generation_id
        known = generation == self.state.generation and tp in self.state.expected
        begins = None if known else await self._start(tp)
        verdict, start = self.state.check(tp, message.offset, begins, generation, time.monotonic())
        if verdict == "skip":
            return []
        self.read_offsets.held.discard(tp)
        if verdict == "handle":
            return [event]
        log.warning(
            "%s[%s]: offset %s delivered, %s expected: reading the skipped records again",
            tp.topic,
            tp.partition,
            message.offset,
            start,
        )
        gaps = consumer._gap.get(tp)
        if gaps:  # recorded as acknowledged: they are not yet
            gaps.chop(start, sys.maxsize)
        try:
            records = await asyncio.to_thread(
                self.reader.read, tp.topic, tp.partition, start, message.offset
            )
        except Exception:
            self.state.expected[tp] = start  # the hole is still open: the next try reads it
            raise
        RECOVERED.inc(len(records))
        return [*(self._event(r, tp, generation) for r in records), event]

    def _event(self, record: Any, tp: TP, generation: int) -> RecoveredEvent:
        _kind, timestamp_ms = record.timestamp()
        message = Message(
            tp.topic,
            tp.partition,
            record.offset(),
            (timestamp_ms or 0) / 1000,
            0,
            record.headers(),
            record.key(),
            record.value(),
            None,
            tp=tp,
            generation_id=generation,
        )
        return RecoveredEvent(self.app, message)

    def unfinished(self, events: list[Any]) -> None:
        """The agent gave up on ``events`` (admitted, not handled): their partitions expect
        them again, so a fetch of them is handled, not skipped, and a partition that does not
        deliver them is sought back (``check_idle``)."""
        for event in events:
            message = event.message
            tp = TP(message.tp.topic, message.tp.partition)
            expected = self.state.expected.get(tp)
            if expected is not None and message.offset < expected:
                self.state.expected[tp] = message.offset

    def finished(self, event: Any) -> None:
        """The agent is done with ``event`` (progress, for the stall gauges)."""
        message = event.message
        self.progress.finished(
            TP(message.tp.topic, message.tp.partition), message.offset, time.monotonic()
        )

    async def check_idle(self) -> None:
        """Seek back the partitions where records wait but nothing has come for a while;
        publish each partition's lag and stall."""
        app = self.app
        if app.rebalancing or getattr(app, "in_recovery", False):
            return
        consumer = app.consumer
        owned = [tp for tp in app.assignor.assigned_actives() if tp.topic == self.topic]
        if not owned:
            return
        # Asked of Kafka by a consumer of the guard's own: Faust's consumer thread answers
        # only between its fetches, which took seconds under load.
        ends = await asyncio.to_thread(self.reader.ends, owned)
        starts = {tp: await self._start(TP(tp.topic, tp.partition)) for tp in owned}
        report = self.progress.report(ends, starts, time.monotonic())
        publish(report, self.topic, LAG, STALLED)
        for tp in owned:
            offset = self.state.idle(
                tp, ends.get(tp), starts[tp], app.consumer_generation_id, time.monotonic()
            )
            if offset is None:
                continue
            log.warning(
                "%s[%s]: nothing delivered for %.0fs while records wait from offset %s; "
                "seeking back",
                tp.topic,
                tp.partition,
                IDLE_AFTER_S,
                offset,
            )
            REWOUND.inc()
            tp = TP(tp.topic, tp.partition)  # Faust's partition sets assert on other types
            self.read_offsets.held.add(tp)  # until the next record comes
            gaps = consumer._gap.get(tp)
            if gaps:
                gaps.chop(offset, sys.maxsize)
            # In the consumer's own thread (seek_wait): aiokafka's seek wakes its fetcher
            # through a future of that thread's event loop, which a seek from here would not.
            await consumer.seek_wait({tp: offset})
            consumer.resume_partitions({tp})
