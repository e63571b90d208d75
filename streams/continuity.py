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
generation starts, then the last handled + 1):
- the expected record is handled;
- a record beyond it means records were dropped: the partition is sought back, and the
  record is left unhandled and unacknowledged, to come again in its turn;
- a record before it was handled already in this generation (fetched again after a seek):
  it is skipped;
- a partition that delivers nothing for a while although Kafka has records past the expected
  offset (a dropped record was its last) is sought back too (``idle``).
"""

from __future__ import annotations

import logging
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

from faust.types import TP
from prometheus_client import Counter

log = logging.getLogger(__name__)

REWOUND = Counter(
    "eventline_worker_rewound_partitions_total",
    "Partitions sought back because Faust skipped records (they are fetched again)",
    ["why"],  # hole: a later record came first; idle: nothing came although records wait
)
RESEEK_AFTER_S = 5.0  # a rewind not yet answered by the expected record is sought again
IDLE_AFTER_S = 5.0  # no delivery for this long while records wait: sought back

Verdict = Literal["handle", "rewind", "wait", "skip"]


@dataclass
class OffsetGuard:
    """The next expected offset of each partition of one consumer generation. Pure."""

    generation: int = -1
    expected: dict[Any, int] = field(default_factory=dict)
    rewinding: dict[Any, float] = field(default_factory=dict)  # tp -> when sought back
    delivered: dict[Any, float] = field(default_factory=dict)  # tp -> last delivery

    def _generation(self, generation: int) -> None:
        if generation != self.generation:  # a new assignment starts at the committed offsets
            self.generation, self.expected, self.rewinding = generation, {}, {}
            self.delivered = {}

    def check(
        self, tp: Any, offset: int, committed: int | None, generation: int, now: float
    ) -> tuple[Verdict, int]:
        """What to do with a record at ``offset`` (and the offset to seek, for rewind)."""
        self._generation(generation)
        self.delivered[tp] = now
        expected = self.expected.get(tp, committed)
        if expected is None or offset == expected:
            self.expected[tp] = offset + 1
            self.rewinding.pop(tp, None)
            return "handle", offset
        if offset < expected:
            return "skip", expected
        since = self.rewinding.get(tp)
        if since is not None and now - since < RESEEK_AFTER_S:
            return "wait", expected
        self.rewinding[tp] = now
        return "rewind", expected

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
        self.rewinding[tp] = now
        return expected


class HeldReadOffsets(defaultdict[Any, int | None]):
    """Faust's read offsets (``Consumer._read_offset``), with partitions held during a rewind.

    Faust's fetch loop drops any fetched record below a partition's read offset, and sets the
    read offset after each record it hands on. After a seek back, records fetched before the
    seek are still on their way and would push the read offset past the seek again, so that
    the records fetched anew are dropped: the partition stalls. While a partition is held, its
    read offset reads as unknown (every record passes, no gap is recorded) and is not set.
    """

    def __init__(self, current: dict[Any, int | None]) -> None:
        super().__init__(lambda: None, current)
        self.held: set[Any] = set()

    def __getitem__(self, tp: Any) -> int | None:
        return None if tp in self.held else super().__getitem__(tp)

    def __setitem__(self, tp: Any, offset: int | None) -> None:
        if tp not in self.held:
            super().__setitem__(tp, offset)


def hold_read_offsets(app: Any) -> HeldReadOffsets:
    """Install ``HeldReadOffsets`` on the app's consumer (before the worker starts)."""
    consumer = app.consumer
    if not isinstance(consumer._read_offset, HeldReadOffsets):
        consumer._read_offset = HeldReadOffsets(consumer._read_offset)
    offsets: HeldReadOffsets = consumer._read_offset
    return offsets


class ContinuityGuard:
    """``OffsetGuard`` on one agent's topic of a Faust app: committed offsets from the
    consumer, seeks in the consumer's thread."""

    def __init__(self, app: Any, topic: str) -> None:
        self.app = app
        self.topic = topic
        self.state = OffsetGuard()
        self.read_offsets = hold_read_offsets(app)

    async def admit(self, event: Any) -> bool:
        """True when the agent should handle ``event``; False when it must drop it unacked
        (handled already, or the partition was sought back to records Faust dropped)."""
        message = event.message
        tp = message.tp
        consumer = self.app.consumer
        generation = self.app.consumer_generation_id
        if generation != self.state.generation:  # Faust sought every partition anew
            self.read_offsets.held.difference_update(self.state.expected)
        verdict, offset = self.state.check(
            tp,
            message.offset,
            consumer._committed_offset.get(tp),
            generation,
            time.monotonic(),
        )
        if verdict == "handle":
            self.read_offsets.held.discard(tp)
            return True
        if verdict == "rewind":
            log.warning(
                "%s[%s]: offset %s delivered, %s expected: records were skipped; seeking back",
                tp.topic,
                tp.partition,
                message.offset,
                offset,
            )
            await self._seek(tp, offset, "hole")
        return False

    async def check_idle(self) -> None:
        """Seek back the partitions where records wait but nothing has come for a while."""
        app = self.app
        if app.rebalancing or getattr(app, "in_recovery", False):
            return
        consumer = app.consumer
        owned = [tp for tp in app.assignor.assigned_actives() if tp.topic == self.topic]
        if not owned:
            return
        ends = await consumer.highwaters(*owned)
        for tp in owned:
            offset = self.state.idle(
                tp,
                ends.get(tp),
                consumer._committed_offset.get(tp),
                app.consumer_generation_id,
                time.monotonic(),
            )
            if offset is not None:
                log.warning(
                    "%s[%s]: nothing delivered for %.0fs while records wait from offset %s; "
                    "seeking back",
                    tp.topic,
                    tp.partition,
                    IDLE_AFTER_S,
                    offset,
                )
                await self._seek(tp, offset, "idle")

    async def _seek(self, message_tp: Any, offset: int, why: str) -> None:
        REWOUND.labels(why).inc()
        consumer = self.app.consumer
        # As Faust's own TP: its partition sets assert on anything else (aiokafka's
        # TopicPartition compares equal, but would crash its fetcher).
        tp = TP(message_tp.topic, message_tp.partition)
        earliest = (await consumer.earliest_offsets(tp)).get(tp)
        if earliest is not None and offset < earliest:
            # Deleted by retention before they were processed: nothing to fetch again.
            log.error(
                "%s[%s]: offsets %s to %s were deleted before they were processed",
                tp.topic,
                tp.partition,
                offset,
                earliest - 1,
            )
            self.state.expected[tp] = offset = earliest
        self.read_offsets.held.add(tp)  # until the record at ``offset`` comes
        # Faust recorded the skipped records as a gap (as if acknowledged): forget it, or a
        # commit would pass them once the record before the gap is acknowledged.
        gaps = consumer._gap.get(tp)
        if gaps:
            gaps.chop(offset, sys.maxsize)
        # In the consumer's own thread (seek_wait): aiokafka's seek wakes its fetcher through
        # a future of that thread's event loop, which a seek from this loop would not.
        await consumer.seek_wait({tp: offset})
        consumer.resume_partitions({tp})
