"""Outputs of the record being handled, and its ack once Kafka has them all.

Faust's own iterator acks a record in a ``finally``: a record whose processing was cancelled
(shutdown, rebalance) would be committed without its outputs. The agents iterate with
``noack()`` instead; every output goes through ``send``, which only stages it, so that an
output Kafka would refuse (too large) fails the record before anything of it is written;
``flush`` sends what is staged (each delivery future joins the record's), and
``ack_when_written`` acks the record once they are all acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from faust.types import EventT
from prometheus_client import Counter

from eventline.errors import InvalidEvent
from schemas.limits import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)

# The sends of the record being handled: its ack waits for their delivery reports.
_SENDS: ContextVar[list[asyncio.Future[Any]]] = ContextVar("eventline_sends")
# The outputs of the record being handled, not sent yet: (topic, key, value).
_STAGED: ContextVar[list[tuple[Any, bytes, bytes]]] = ContextVar("eventline_staged")
# Ack tasks in flight; referenced here so they are not garbage collected mid-way.
_ACKS: set[asyncio.Task[bool]] = set()
# The latest ack task of each partition: the next record's ack waits for it.
_LAST: dict[tuple[str, int, int | None], asyncio.Task[bool]] = {}
UNACKED = Counter(
    "eventline_worker_unacked_total",
    "Records left unacknowledged because an output could not be written (replayed on restart)",
)


def _exit_to_restart(where: str, exc: BaseException) -> None:
    log.critical(
        "%s: an output could not be written after the producer's retries (%s: %s); the "
        "worker exits (code %d) to start again from its last commit: nothing is lost, the "
        "records from this one on were not committed",
        where,
        type(exc).__name__,
        exc,
        EXIT_TO_RESTART,
    )
    logging.shutdown()
    os._exit(EXIT_TO_RESTART)


EXIT_TO_RESTART = 75  # EX_TEMPFAIL: a supervisor (eventline up, systemd) starts it again
# What to do when an output is lost after the producer's retries (tests replace it).
on_output_lost: Callable[[str, BaseException], None] = _exit_to_restart


def begin_record() -> None:
    """Start collecting the outputs of a new record."""
    _SENDS.set([])
    _STAGED.set([])


async def send(topic: Any, key: str, value: bytes) -> None:
    """Stage an output of the current record. Raises InvalidEvent when Kafka would refuse it
    (larger than ``MAX_MESSAGE_BYTES``): the record fails, and nothing of it is written."""
    encoded = key.encode()
    size = len(encoded) + len(value)
    if size > MAX_MESSAGE_BYTES:
        name = getattr(topic, "get_topic_name", lambda: "a topic")()
        raise InvalidEvent(
            "event",
            f"its output on {name} would be {size} bytes, more than the "
            f"{MAX_MESSAGE_BYTES} bytes a Kafka message may have",
        )
    _STAGED.get().append((topic, encoded, value))


def discard() -> None:
    """Forget the staged outputs (the record is handled again, or failed)."""
    _STAGED.get().clear()


async def flush() -> None:
    """Send the staged outputs without waiting for Kafka: their delivery futures join the
    current record's sends. After an error, what was not sent stays staged."""
    staged = _STAGED.get()
    while staged:
        topic, key, value = staged[0]
        delivery = await topic.send(key=key, value=value, force=True)
        _SENDS.get().append(delivery)
        staged.pop(0)


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
            # The producer gave up after its retries: the record stays unacked, so no offset
            # of its partition is committed past it any more, and it is processed again after
            # a restart. Going on would only pile up work that a restart redoes.
            UNACKED.inc()
            on_output_lost(where, exc)
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
