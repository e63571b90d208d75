"""Records Faust drops from its stream buffers are fetched again, never skipped.

Faust empties every stream buffer whenever flow resumes (mode's ``FlowControlEvent.resume``),
to discard records prefetched before a rebalance. But its recovery resumes fetching the stream
partitions, then seeks them, then resumes flow: a record fetched in between is dropped from the
buffer while the fetch position has already moved past it, and the commit of the next record
skips it (faust-streaming 0.15; seen as an event stuck in 'received' after a worker restart).

``rewind_dropped_records`` wraps ``resume``: before the buffers are emptied, the partitions of
the current generation's buffered records are paused; after, each is sought back to its first
dropped offset and resumed. A dropped record is fetched again; nothing after it is processed
or committed before it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from faust.types import TP
from prometheus_client import Counter

log = logging.getLogger(__name__)

REWOUND = Counter(
    "eventline_worker_rewound_partitions_total",
    "Partitions sought back because Faust dropped buffered records when flow resumed",
)
# Rewinds in flight, referenced so they are not garbage collected mid-way.
_TASKS: set[asyncio.Task[None]] = set()


def first_buffered_offsets(buffered: Iterable[Any], generation_id: int) -> dict[Any, int]:
    """The lowest offset per partition among buffered events of ``generation_id``.

    Events of an older generation are left out: the next assignment seeks their partitions
    to the committed offset anyway.
    """
    first: dict[Any, int] = {}
    for item in buffered:
        message = getattr(item, "message", None)
        if message is None or getattr(message, "generation_id", None) != generation_id:
            continue
        tp, offset = message.tp, message.offset
        if tp not in first or offset < first[tp]:
            first[tp] = offset
    return first


def rewind_dropped_records(app: Any) -> None:
    """Install the guard on ``app.flow_control`` (once, before the worker starts)."""
    flow = app.flow_control
    resume = flow.resume

    def guarded_resume() -> None:
        buffered = [item for queue in list(flow._queues) for item in list(queue._queue)]
        if not buffered:
            resume()
            return
        consumer = app.consumer
        generation = app.consumer_generation_id
        assigned = consumer.assignment()
        first = {  # as Faust's own TP type: its partition sets accept nothing else
            TP(tp.topic, tp.partition): offset
            for tp, offset in first_buffered_offsets(buffered, generation).items()
            if TP(tp.topic, tp.partition) in assigned
        }
        active = {tp for tp in first if tp not in consumer._paused_partitions}
        if first:
            consumer.pause_partitions(first)  # nothing after a dropped record gets through
        resume()
        if first:
            task = asyncio.ensure_future(_rewind(app, first, active, generation))
            _TASKS.add(task)
            task.add_done_callback(_TASKS.discard)

    flow.resume = guarded_resume


async def _rewind(app: Any, first: dict[Any, int], active: set[Any], generation: int) -> None:
    consumer = app.consumer
    try:
        for tp, offset in sorted(first.items(), key=lambda item: str(item[0])):
            # seek_wait runs in the consumer's thread: aiokafka's seek wakes its fetcher
            # through a future of that thread's event loop.
            await consumer.seek_wait({tp: offset})
            REWOUND.inc()
            log.info(
                "%s[%s]: rewound to %s (records dropped by Faust)", tp.topic, tp.partition, offset
            )
    finally:
        # After a new rebalance, its recovery decides which partitions run.
        if app.consumer_generation_id == generation:
            consumer.resume_partitions(active & consumer.assignment())
