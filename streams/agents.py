"""The worker's two agents: resolve (identity -> contact) and process (join -> canonical event).

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
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import cache, partial
from typing import Any

from confluent_kafka import KafkaException
from faust.types import EventT
from prometheus_client import Counter, Histogram

from eventline.core import clock
from eventline.core.errors import InvalidEvent
from eventline.schemas.codec import codec
from eventline.schemas.limits import emptied_excerpt, storable
from eventline.schemas.model import (
    CONTACT,
    IDENTITY,
    check_record,
    contact_key,
    incoming_record,
    now,
    routing_key,
)
from eventline.streams import automate, merger
from eventline.streams.app import Worker
from eventline.streams.canonical import apply_registration, canonical_event, new_contact
from eventline.streams.continuity import IDLE_AFTER_S, ContinuityGuard
from eventline.streams.failures import heals, reason
from eventline.streams.idempotency import classify, entry
from eventline.streams.resolve import resolve, why_fail
from eventline.streams.sending import AckChain, Delivery, Output, begin_record, discard, keep, send
from eventline.streams.table import Tables
from eventline.streams.timers import SegmentClock

log = logging.getLogger(__name__)

RECORDS = Counter("eventline_worker_records_total", "Records handled", ["stage", "outcome"])
PROCESS_SECONDS = Histogram(
    "eventline_worker_process_seconds", "Time to handle one record", ["stage"]
)
EVENT_AGE = Histogram(
    "eventline_worker_event_age_seconds",
    "Lag: gateway receipt to processing",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
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
# The bytes of the record being handled when re-encoding it would give the same bytes.
_RAW: ContextVar[bytes | None] = ContextVar("eventline_raw_record")
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
        return await _guarded(w, "resolve", event, partial(_resolve, w, message_key=key))
    name = codec().name_of(event.value or b"")
    if name == "ContactCheck":
        return await _guarded(w, "check", event, partial(automate.check, w), "ContactCheck")
    if name == "ContactMerge":
        return await _guarded(w, "merge", event, partial(merger.handle, w), "ContactMerge")
    return await _guarded(w, "process", event, partial(_process, w))


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
    _RAW.set(event.value if codec().is_current(schema, event.value or b"") else None)
    try:
        record = codec().decode(schema, event.value or b"")
    except Exception as exc:  # whatever the bytes are, the record gets a visible status
        await _emit_undecodable(w, event, str(exc))
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
        await _emit_status(w, record, "FAILED", error)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%s %s receipt %s: %s", stage, where, record.get("receipt_id"), outcome)
    _child(RECORDS, stage, outcome).inc()
    _child(PROCESS_SECONDS, stage).observe(time.perf_counter() - started)
    return keep()


async def _emit_status(
    w: Worker,
    record: dict[str, Any],
    status: str,
    error: str | None = None,
    raw: str | None = None,
) -> None:
    at = now()
    embedded: Any = record
    if status == "FAILED":
        # A record past a bound is reported with those fields emptied (the error names them,
        # raw keeps their start), so the status itself fits every topic and table.
        raw = raw or emptied_excerpt(record, at)
        record = embedded = storable(record, at)
    elif status == "PROCESSED" and (unchanged := _RAW.get(None)) is not None:
        embedded = unchanged  # the record as it came: no need to encode it again
    value = codec().encode(
        "EventStatus",
        {
            "record": embedded,
            "status": status,
            "process_error": error,
            "raw": raw,
            "updated_at": at,
        },
    )
    await send(w.status, record["event_id"], value)


async def _emit_undecodable(w: Worker, event: EventT[Any], error: str) -> None:
    msg = event.message
    record = incoming_record(
        account_id="unknown",
        event_id=f"kafka:{msg.topic}:{msg.partition}:{msg.offset}",
        receipt_id=f"{msg.partition}:{msg.offset}",
        received_at=datetime.fromtimestamp(msg.timestamp or time.time(), UTC),
        source="kafka",
    )
    raw = (event.value or b"")[:4096].decode("utf-8", "replace")
    await _emit_status(w, record, "FAILED", error, raw)


def _policy(w: Worker, record: dict[str, Any]) -> str:
    """The record's own unknown-contact rule (a dialect's), else its account's policy."""
    return record.get("unknown_contact") or w.settings.policy_for(record["account_id"])


async def _resolve(w: Worker, record: dict[str, Any], message_key: str) -> str:
    """Incoming stage, keyed by identity: find the contact, forward keyed by contact."""
    check_record(record)
    # An identity claim is about the key it was sent under; any other record (a merge on its
    # way to its target too) resolves under its own routing key (equal to the message key
    # when written by eventline's producers).
    claim = record["kind"] == IDENTITY and not record.get("merge_from")
    key = message_key if claim else routing_key(record)
    resolution = resolve(record, key, w.identities.get, _policy(w, record))
    if resolution.error:
        await _emit_status(w, record, "FAILED", resolution.error)
        w.identities.update(resolution.store)  # an undone claim gives its key back
        return "failed"
    if resolution.forward_to is not None:
        hops = record.get("hops", 0) + 1
        forwarded = {**record, "route_key": resolution.forward_to, "hops": hops}
        await send(w.incoming, resolution.forward_to, codec().encode("IncomingRecord", forwarded))
        return "forwarded"
    outcome = "claimed" if record["kind"] == IDENTITY else "resolved"
    if resolution.contact_id is not None and record["kind"] == IDENTITY:
        outcome = await merger.start(w, record, resolution.contact_id)  # the merge's target
    elif resolution.contact_id is not None:
        resolved = {**record, "contact_id": resolution.contact_id}
        await send(
            w.by_contact,
            contact_key(record["account_id"], resolution.contact_id),
            codec().encode("IncomingRecord", resolved),
        )
    if resolution.merge_from is not None:
        await merger.request(w, record, resolution.merge_from)
    # After the sends: a replay re-sends (deduplicated downstream) and re-stores the same ids.
    w.identities.update(resolution.store)
    return outcome


async def _process(w: Worker, record: dict[str, Any]) -> str:
    """By-contact stage: join with the contact table, apply the rules, emit the canonical event,
    the automation messages and the status."""
    check_record(record)  # written by our resolver, unless someone wrote it straight to Kafka
    if not record.get("contact_id") or record["kind"] == IDENTITY:
        raise InvalidEvent("contact_id", "a resolved event or contact record is required here")
    key = contact_key(record["account_id"], record["contact_id"])
    now_ms = clock.now_ms()
    current = w.contacts.get(key)
    if current is not None and current.get("merged_into"):
        return await merger.forward(w, record, current["merged_into"])
    if record["kind"] == CONTACT:
        contact = apply_registration(current, record, now_ms)
        outcome = await automate.on_contact_update(w, contact, record)
        await automate.publish(w, outcome)
        await _emit_status(w, record, "PROCESSED")
        automate.save(w, key, outcome.contact)
        return "processed"
    keyed = record["idempotency_key"] is not None
    window_ms = w.settings.idempotency_window_hours * 3600 * 1000
    seen = w.seen.get(record["event_id"]) if keyed else None
    if classify(seen, record["receipt_id"], now_ms, window_ms) == "duplicate":
        key_text = record["idempotency_key"]
        error = f"duplicate of event {record['event_id']} (idempotency key {key_text!r})"
        await _emit_status(w, record, "DUPLICATE", error)
        return "duplicate"
    contact = current
    if contact is None:
        # Under 'fail' the resolver mints contacts only for registrations, and a registration
        # precedes its contact's events on this partition: a missing contact is unknown.
        if _policy(w, record) == "fail":
            raise InvalidEvent(
                "contact_id",
                f"unknown contact: no contact {record['contact_id']!r} in account "
                f"{record['account_id']!r} ({why_fail(record)})",
            )
        contact = new_contact(record, now_ms)
    processed_at = now()
    EVENT_AGE.observe(max(0.0, (processed_at - record["received_at"]).total_seconds()))
    event = canonical_event(record, contact, processed_at)
    outcome = await automate.on_event(w, contact, event, new_contact=key not in w.contacts)
    await send(w.events, key, codec().encode("CanonicalEvent", event))
    await automate.publish(w, outcome)
    await _emit_status(w, record, "PROCESSED")
    automate.save(w, key, outcome.contact)
    if keyed:  # only idempotency keys need remembering: a keyless resend is a new event
        w.seen[record["event_id"]] = entry(record["receipt_id"], now_ms)
    return "processed"
