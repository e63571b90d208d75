"""Outputs of the record being handled, and its ack once Kafka has them all.

Faust's own iterator acks a record in a ``finally``: a record whose processing was cancelled
(shutdown, rebalance) would be committed without its outputs. The agents iterate with
``noack()`` instead; every output goes through ``send`` (its delivery future joins the
record's), and ``ack_when_written`` acks the record once they are all acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
from contextvars import ContextVar
from typing import Any

from faust.types import EventT
from prometheus_client import Counter

log = logging.getLogger(__name__)

# The sends of the record being handled: its ack waits for their delivery reports.
_SENDS: ContextVar[list[asyncio.Future[Any]]] = ContextVar("eventline_sends")
# Ack tasks in flight; referenced here so they are not garbage collected mid-way.
_ACKS: set[asyncio.Task[bool]] = set()
# The latest ack task of each partition: the next record's ack waits for it.
_LAST: dict[tuple[str, int, int | None], asyncio.Task[bool]] = {}
UNACKED = Counter(
    "eventline_worker_unacked_total",
    "Records left unacknowledged because an output could not be written (replayed on restart)",
)


def begin_record() -> None:
    """Start collecting the outputs of a new record."""
    _SENDS.set([])


async def send(topic: Any, key: str, value: bytes) -> None:
    """Send now, without waiting: the delivery future joins the current record's sends."""
    delivery = await topic.send(key=key.encode(), value=value, force=True)
    _SENDS.get().append(delivery)


def ack_when_written(event: EventT[Any], where: str) -> None:
    """Ack the record once Kafka acknowledged all its outputs, and after the records before it
    on its partition: Faust commits the acked prefix of a partition but lets a hole of one
    offset through, so acks must come in order. A committed offset then implies written
    outputs, while processing goes on without waiting for each ack."""
    sends = _SENDS.get()
    # A new generation starts from the committed offsets: the chain starts anew with it.
    tp = (event.message.topic, event.message.partition, event.message.generation_id)
    previous = _LAST.get(tp)
    if not sends and (previous is None or (previous.done() and previous.result())):
        event.ack()
        return

    async def ack() -> bool:
        try:
            await asyncio.gather(*sends)
        except Exception as exc:
            # The producer gave up after its retries: leave the record unacked, so its offset
            # is never committed and it is processed again after a restart.
            UNACKED.inc()
            log.error("%s: an output was not written (%s); the record stays unacked", where, exc)
            return False
        if previous is not None and not await previous:
            UNACKED.inc()  # an earlier record is unacked: a commit must not pass it
            return False
        event.ack()
        return True

    task = asyncio.ensure_future(ack())
    _LAST[tp] = task
    _ACKS.add(task)
    task.add_done_callback(_ACKS.discard)
