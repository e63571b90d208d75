"""No record is skipped: an agent sees every offset of its partitions, in order.

The worker's input topics (incoming, by-contact) are neither compacted nor transactional, so
their offsets have no holes: every offset is a record someone wrote. Faust can still drop
records it has fetched: its fetch loop breaks off a fetched batch when the consumer
generation changes or flow stops, and it filters records of partitions it does not consider
active, while the fetch position has moved past them. Its fetch loop then takes the hole for
a compaction gap and counts it as acknowledged (``Consumer._add_gap``), and its commit check
tolerates a hole of one offset, or any hole before the first commit of a partition, so the
commit goes past records that were never processed: an acknowledged event lost (seen here as
the first records of each partition missing after a worker restart with large tables;
``streams.rewind`` closes the other known path).

``OffsetGuard`` checks each record against the next offset expected on its partition (the
committed offset at first, then the last processed + 1). A record beyond it means records
were dropped: the partition is sought back to the expected offset, and the record is left
unprocessed and unacknowledged, to come again in its turn.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from prometheus_client import Counter

log = logging.getLogger(__name__)

REWOUND = Counter(
    "eventline_worker_skipped_offsets_rewound_total",
    "Partitions sought back because Faust delivered a record beyond the next expected offset",
)
RESEEK_AFTER_S = 5.0  # a rewind not yet answered by the expected record is sought again

Verdict = Literal["process", "rewind", "wait"]


@dataclass
class OffsetGuard:
    """The next expected offset of each partition of one consumer generation. Pure."""

    generation: int = -1
    expected: dict[Any, int] = field(default_factory=dict)
    rewinding: dict[Any, float] = field(default_factory=dict)  # tp -> when sought back

    def check(
        self, tp: Any, offset: int, committed: int | None, generation: int, now: float
    ) -> tuple[Verdict, int]:
        """What to do with a record at ``offset``: process it, rewind the partition to the
        returned offset (and drop the record), or wait (drop it: a rewind is under way)."""
        if generation != self.generation:  # a new assignment starts at the committed offsets
            self.generation, self.expected, self.rewinding = generation, {}, {}
        expected = self.expected.get(tp, committed)
        if expected is None or offset <= expected:
            # first record of an unknown position, the expected one, or a replay after a seek
            self.expected[tp] = offset + 1
            self.rewinding.pop(tp, None)
            return "process", offset
        since = self.rewinding.get(tp)
        if since is not None and now - since < RESEEK_AFTER_S:
            return "wait", expected
        self.rewinding[tp] = now
        return "rewind", expected


class ContinuityGuard:
    """``OffsetGuard`` on a Faust app: asks the consumer for committed offsets and seeks."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state = OffsetGuard()

    async def admit(self, event: Any) -> bool:
        """True when the agent should handle ``event``; False when it must drop it unacked
        (the partition was sought back to the records Faust dropped before it)."""
        message = event.message
        tp = message.tp
        consumer = self.app.consumer
        committed = consumer._committed_offset.get(tp)
        verdict, offset = self.state.check(
            tp, message.offset, committed, self.app.consumer_generation_id, time.monotonic()
        )
        if verdict == "process":
            return True
        if verdict == "rewind":
            log.warning(
                "%s[%s]: offset %s delivered, %s expected: records were skipped; seeking back",
                tp.topic,
                tp.partition,
                message.offset,
                offset,
            )
            REWOUND.inc()
            # In the consumer's own thread (seek_wait): aiokafka's seek wakes its fetcher
            # through a future of that thread's loop, which a seek from here would not.
            await consumer.seek_wait({tp: offset})
        return False
