"""The two stages a record goes through in the worker, and the status each reports: resolve
(keyed by identity: find the contact, forward keyed by contact) and process (keyed by contact:
join, rules, the canonical event). ``eventline.streams.agents`` runs them in batches."""

from __future__ import annotations

import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from faust.types import EventT
from prometheus_client import Histogram

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
from eventline.streams.idempotency import classify, entry
from eventline.streams.resolve import resolve, why_fail
from eventline.streams.sending import send

EVENT_AGE = Histogram(
    "eventline_worker_event_age_seconds",
    "Lag: gateway receipt to processing",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
# The bytes of the record being handled when re-encoding it would give the same bytes.
RAW_RECORD: ContextVar[bytes | None] = ContextVar("eventline_raw_record")


async def emit_status(
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
    elif status == "PROCESSED" and (unchanged := RAW_RECORD.get(None)) is not None:
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


async def emit_undecodable(w: Worker, event: EventT[Any], error: str) -> None:
    msg = event.message
    record = incoming_record(
        account_id="unknown",
        event_id=f"kafka:{msg.topic}:{msg.partition}:{msg.offset}",
        receipt_id=f"{msg.partition}:{msg.offset}",
        received_at=datetime.fromtimestamp(msg.timestamp or time.time(), UTC),
        source="kafka",
    )
    raw = (event.value or b"")[:4096].decode("utf-8", "replace")
    await emit_status(w, record, "FAILED", error, raw)


def policy(w: Worker, record: dict[str, Any]) -> str:
    """The record's own unknown-contact rule (a dialect's), else its account's policy."""
    return record.get("unknown_contact") or w.settings.policy_for(record["account_id"])


async def resolve_by_identity(w: Worker, record: dict[str, Any], message_key: str) -> str:
    """Incoming stage, keyed by identity: find the contact, forward keyed by contact."""
    check_record(record)
    # An identity claim is about the key it was sent under; any other record (a merge on its
    # way to its target too) resolves under its own routing key (equal to the message key
    # when written by eventline's producers).
    claim = record["kind"] == IDENTITY and not record.get("merge_from")
    key = message_key if claim else routing_key(record)
    resolution = resolve(record, key, w.identities.get, policy(w, record))
    if resolution.error:
        await emit_status(w, record, "FAILED", resolution.error)
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


async def process_by_contact(w: Worker, record: dict[str, Any]) -> str:
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
        await emit_status(w, record, "PROCESSED")
        automate.save(w, key, outcome.contact)
        return "processed"
    keyed = record["idempotency_key"] is not None
    window_ms = w.settings.idempotency_window_hours * 3600 * 1000
    seen = w.seen.get(record["event_id"]) if keyed else None
    if classify(seen, record["receipt_id"], now_ms, window_ms) == "duplicate":
        key_text = record["idempotency_key"]
        error = f"duplicate of event {record['event_id']} (idempotency key {key_text!r})"
        await emit_status(w, record, "DUPLICATE", error)
        return "duplicate"
    contact = current
    if contact is None:
        # Under 'fail' the resolver mints contacts only for registrations, and a registration
        # precedes its contact's events on this partition: a missing contact is unknown.
        if policy(w, record) == "fail":
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
    await emit_status(w, record, "PROCESSED")
    automate.save(w, key, outcome.contact)
    if keyed:  # only idempotency keys need remembering: a keyless resend is a new event
        w.seen[record["event_id"]] = entry(record["receipt_id"], now_ms)
    return "processed"
