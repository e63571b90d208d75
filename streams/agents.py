"""The worker's two agents: resolve (identity -> contact) and process (join -> canonical event).
What each stage does to one record is ``eventline.streams.stages``; here: batches, acks,
retries and the continuity guard.

Faust rules we follow (docs/architecture.md, pitfalls):
- concurrency=1 per agent: higher concurrency can commit past an in-flight event (faust #606).
- no exception leaves an agent: a raised exception acks the event and skips it. Transient
  errors block the partition and retry; everything else marks the record ``failed``.
- batches without Faust's acks (``noack_take``): a batch's records are acked (so committable)
  only after Kafka acknowledged all their outputs and table changes, sent at once
  (eventline.streams.sending, eventline.streams.table); Faust's own ack-in-finally would commit a
  record whose processing was cancelled.
- every effect is idempotent, because replays re-apply table updates (faust #273) and the
  changelog may be ahead of the committed offset: a replayed record (same receipt) is
  processed again and re-emits the same outputs, keyed by event id, which every consumer
  (our sink included) deduplicates; a resend (new receipt, same idempotency key) is only
  marked ``duplicate``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import cache, partial
from typing import Any

from confluent_kafka import KafkaException
from faust.types import EventT
from prometheus_client import Counter, Histogram

from eventline.core.errors import InvalidEvent
from eventline.schemas.codec import codec
from eventline.streams import automate, merger, stages
from eventline.streams.app import Worker
from eventline.streams.continuity import IDLE_AFTER_S, ContinuityGuard
from eventline.streams.failures import heals, reason
from eventline.streams.sending import AckChain, Delivery, Output, begin_record, discard, keep
from eventline.streams.table import Tables
from eventline.streams.timers import SegmentClock

log = logging.getLogger(__name__)

RECORDS = Counter("eventline_worker_records_total", "Records handled", ["stage", "outcome"])
PROCESS_SECONDS = Histogram(
    "eventline_worker_process_seconds", "Time to handle one record", ["stage"]
)


@cache
def _child(metric: Any, *labels: str) -> Any:
    """A labelled child of a metric, looked up once (``labels()`` costs more than ``inc()``)."""
    return metric.labels(*labels)


RETRIES = Counter(
    "eventline_worker_retries_total",
    "Attempts at a record that failed with an error that heals (the partition waits)",
    ["stage"],
)
BATCH_RECORDS = Histogram(
    "eventline_worker_batch_records",
    "Records per batch an agent handled",
    ["stage"],
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000),
)
BATCH_SECONDS = Histogram(
    "eventline_worker_batch_seconds",
    "Time an agent spent handling a batch, up to handing its outputs to the producer",
    ["stage"],
)
RETRY_MAX_DELAY_S = 30.0
IDLE_CHECK_S = IDLE_AFTER_S / 2


def attach_agents(w: Worker) -> None:
    """Register the agents of the worker on its Faust app."""

    # Batches without Faust's acks (noack_take), acked once Kafka has the batch's outputs and
    # table changes (eventline.streams.sending): Faust acks in a `finally`, so a batch whose
    # processing was cancelled (shutdown, rebalance) would be committed without its outputs.
    # Each agent also checks that no offset was skipped (eventline.streams.continuity).
    bootstrap = w.settings.bootstrap()
    guards = [
        ContinuityGuard(w.app, w.names.incoming, bootstrap),
        ContinuityGuard(w.app, w.names.by_contact, bootstrap),
    ]
    size, within = w.settings.worker_batch_size, w.settings.worker_batch_wait_s
    chains = [AckChain(), AckChain()]

    @w.app.agent(w.incoming, concurrency=1)
    async def resolve_identities(stream: Any) -> None:
        async for delivered in stream.noack_take(size, within):
            await _batch(w, "resolve", guards[0], w.identity_tables, chains[0], delivered)

    # Records and segment checks of a contact share its partition: handled one at a time, in
    # order, by one agent (concurrency=1), so its state is never updated by two at once.
    @w.app.agent(w.by_contact, concurrency=1)
    async def process_by_contact(stream: Any) -> None:
        async for delivered in stream.noack_take(size, within):
            await _batch(w, "process", guards[1], w.contact_tables, chains[1], delivered)

    @w.app.timer(IDLE_CHECK_S)
    async def check_partitions() -> None:
        for guard in guards:
            try:
                await guard.check_idle()
            except KafkaException as exc:  # Kafka away: the next tick tries again
                log.warning("checking %s for skipped records: %s", guard.topic, exc)
            except Exception:
                log.exception("checking %s for skipped records failed", guard.topic)

    w.segment_clock = SegmentClock(w)

    @w.app.timer(w.settings.segment_check_interval_s)
    async def check_segments() -> None:
        try:
            await w.segment_clock.tick()
        except Exception:  # the next tick tries again; the due times live in the table
            log.exception("segment clock tick failed")


async def _batch(
    w: Worker,
    stage: str,
    guard: ContinuityGuard,
    tables: Tables,
    acks: AckChain,
    delivered: list[Any],
) -> None:
    """Handle a batch: every record in order, then its outputs and table changes sent at
    once; the records are acked, in order, once Kafka has them all (``acks``)."""
    admitted: list[Any] = []
    for event in delivered:
        admitted.extend(await _admitted(guard, event))
    if not admitted:
        return
    first = admitted[0].message
    where = f"{first.topic}[{first.partition}]@{first.offset}+{len(admitted)}"
    started = time.perf_counter()
    try:
        delivery = await _handle(w, stage, guard, tables, admitted, where)
    except BaseException:  # cancelled (shutdown) or a bug: these records are not done
        guard.unfinished(admitted)  # expected again: handled when fetched, not skipped
        tables.discard()  # their writes not sent: those partitions are restored first
        raise
    BATCH_SECONDS.labels(stage).observe(time.perf_counter() - started)
    BATCH_RECORDS.labels(stage).observe(len(admitted))
    await acks.add(delivery, where, admitted, guard.finished)


async def _handle(
    w: Worker, stage: str, guard: ContinuityGuard, tables: Tables, admitted: list[Any], where: str
) -> Delivery:
    """Every record of the batch in order; its outputs and table changes handed to Kafka."""
    async with tables.lock:  # the segment clock never reads a table being restored
        await _ready(w, guard.topic, tables, {e.message.partition for e in admitted})
        if stage == "process":
            try:
                await automate.rules_read(w, [e.message.timestamp for e in admitted])
            except Exception:  # each record still waits for its own (automate.rules_for)
                log.exception("reading rule and account changes for a batch failed")
        outputs: list[Output] = []
        for event in admitted:
            tables.at(event.message.partition)
            try:
                outputs.extend(await _one(w, stage, event))
            except Exception:  # cannot happen for a storable status; never stall on it
                log.exception("%s: the record or its failure cannot be recorded", where)
        delivery = await w.sender.send(outputs, tables.drain())
        tables.sent(delivery.future)
    return delivery


async def _ready(w: Worker, topic: str, tables: Tables, partitions: set[int]) -> None:
    """Restore the batch's table partitions, retried until Kafka answers: a record handled
    against a partial table would resolve or count wrongly."""
    delay = 0.5
    while True:
        app = w.app
        owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}
        try:
            await tables.ready(partitions, owned, app.consumer_generation_id)
            return
        except Exception as exc:
            RETRIES.labels("restore").inc()
            log.warning(
                "table partitions %s not restored, retry in %.1fs: %s", partitions, delay, exc
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_DELAY_S)


async def _one(w: Worker, stage: str, event: EventT[Any]) -> list[Output]:
    """One record of a batch: its outputs (its status ``failed`` when it cannot be handled)."""
    if stage == "resolve":
        key = event.key.decode("utf-8", "replace") if event.key else ""
        return await _guarded(
            w, "resolve", event, partial(stages.resolve_by_identity, w, message_key=key)
        )
    name = codec().name_of(event.value or b"")
    if name == "ContactCheck":
        return await _guarded(w, "check", event, partial(automate.check, w), "ContactCheck")
    if name == "ContactMerge":
        return await _guarded(w, "merge", event, partial(merger.handle, w), "ContactMerge")
    return await _guarded(w, "process", event, partial(stages.process_by_contact, w))


async def _admitted(guard: ContinuityGuard, delivered: EventT[Any]) -> list[Any]:
    """``guard.admit``, retried until it can read the records Faust skipped (Kafka away):
    an exception leaving the agent would skip the event."""
    delay = 0.5
    while True:
        try:
            return await guard.admit(delivered)
        except Exception as exc:
            RETRIES.labels("continuity").inc()
            log.warning(
                "%s: skipped records not read yet, retry in %.1fs: %s", guard.topic, delay, exc
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_DELAY_S)


async def _guarded(
    w: Worker,
    stage: str,
    event: EventT[Any],
    handle: Callable[[dict[str, Any]], Awaitable[str]],
    schema: str = "IncomingRecord",
) -> list[Output]:
    """Run ``handle`` on the decoded record and answer its outputs; never let an exception
    escape the agent.

    Errors that heal block the partition and are retried; any other error fails the record
    (a ``failed`` status with the reason) and the partition moves on (``failures``)."""
    started = time.perf_counter()
    msg = event.message
    where = f"{msg.topic}[{msg.partition}]@{msg.offset}"
    begin_record()
    stages.RAW_RECORD.set(event.value if codec().is_current(schema, event.value or b"") else None)
    try:
        record = codec().decode(schema, event.value or b"")
    except Exception as exc:  # whatever the bytes are, the record gets a visible status
        await stages.emit_undecodable(w, event, str(exc))
        _child(RECORDS, stage, "failed").inc()
        return keep()
    error: str | None = None
    delay = 0.5
    while True:
        discard()  # outputs staged by an attempt that did not finish
        try:
            outcome = await handle(record)
            break
        except Exception as exc:
            if not heals(exc):
                error = reason(exc)
                if not isinstance(exc, InvalidEvent):
                    log.exception("%s: event %s failed", where, record.get("event_id"))
                break
            # Kafka is unreachable: block this partition and retry; skipping would lose data.
            RETRIES.labels(stage).inc()
            log.warning("%s: transient error, retry in %.1fs: %s", where, delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_DELAY_S)
    if error is not None and schema != "IncomingRecord":
        discard()
        outcome = "failed"  # not a request: nothing to report it on; the timer asks again
        log.error("%s: %s failed: %s", where, schema, error)
    elif error is not None:
        discard()
        outcome = "failed"
        await stages.emit_status(w, record, "FAILED", error)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%s %s receipt %s: %s", stage, where, record.get("receipt_id"), outcome)
    _child(RECORDS, stage, outcome).inc()
    _child(PROCESS_SECONDS, stage).observe(time.perf_counter() - started)
    return keep()
