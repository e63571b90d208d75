"""Status of every incoming record, the failures list, and re-drive of failed events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from starlette.concurrency import run_in_threadpool

from eventline.producers.gateway.answers import error_responses
from eventline.producers.gateway.bodies import StrictRoute
from eventline.producers.gateway.deps import AccountDep, GatewayDep
from eventline.schemas import limits
from eventline.schemas.codec import codec
from eventline.schemas.model import now, routing_key
from eventline.schemas.reads import Reads, record_from_receipt

router = APIRouter(
    route_class=StrictRoute, responses=error_responses("native"), prefix="/v1", tags=["status"]
)

# Which receipt speaks for the event: a success anywhere beats an earlier failed try.
PRECEDENCE = ("processed", "received", "failed", "rejected", "duplicate")
SINK_RECEIPT = "sink:"  # eventline.sinks.rows.refusal_row's receipt for a row of another table


@router.get("/events/{event_id}")
def event_status(gateway: GatewayDep, event_id: str, account: AccountDep) -> dict[str, Any]:
    """Where an event is: received, processed, duplicate, rejected or failed (with the reason).

    `receipts` lists every time the event was sent (a resend shows as `duplicate`).
    """
    reads = gateway.require_reads()
    receipts = reads.incoming(account, event_id)
    if not receipts:
        if gateway.seen_recently(account, event_id):
            return {
                "event_id": event_id,
                "status": "received",
                "process_error": None,
                "receipts": [],
            }
        raise HTTPException(404, f"no event {event_id!r} in account {account!r}")
    # A row of the event that ClickHouse refused (the sink's receipt "sink:…") speaks first:
    # processed or not, the event is not all stored.
    refused = [r for r in receipts if str(r["receipt_id"]).startswith(SINK_RECEIPT)]
    primary = refused[0] if refused else min(receipts, key=lambda r: PRECEDENCE.index(r["status"]))
    status = primary["status"]
    # The status and the event row reach ClickHouse independently: "processed" promises the
    # row is queryable, so until it is, the event is still in flight.
    if status == "processed" and not _readable(reads, account, event_id, primary):
        status = "received"
    return {
        "event_id": event_id,
        "status": status,
        "process_error": primary["process_error"],
        "receipts": receipts,
    }


def _readable(reads: Reads, account: str, event_id: str, receipt: dict[str, Any]) -> bool:
    """Whether what a processed record made can be read: an event's row, or (a registration)
    its contact's row, which comes in a batch of its own."""
    if receipt["kind"] == "event":
        return reads.event_stored(account, event_id)
    if receipt["kind"] == "contact" and receipt.get("contact_id"):
        return reads.contact_stored(account, receipt["contact_id"])
    return True


@router.get("/incoming")
def list_incoming(
    gateway: GatewayDep,
    account: AccountDep,
    status: str | None = Query(
        default=None, description="received, processed, duplicate, rejected or failed"
    ),
    count: int = Query(default=50, ge=1, le=1000),
    offset: int = Query(default=0, ge=0),
    since: Annotated[
        datetime | None,
        Query(
            description="Only records whose status was set at or after this time (ISO-8601; "
            "without an offset, UTC)."
        ),
    ] = None,
) -> dict[str, Any]:
    """Incoming records, newest first, optionally filtered by status (the dead-letter view)."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    rows, total = gateway.require_reads().incoming_list(account, status, count, offset, since)
    return {"incoming": rows, "total_items": total}


@router.post("/events/{event_id}/redrive", status_code=202)
async def redrive(gateway: GatewayDep, event_id: str, account: AccountDep) -> dict[str, Any]:
    """Send a failed event through the pipeline again, once its cause is fixed."""
    reads = gateway.require_reads()
    receipts = await run_in_threadpool(reads.incoming, account, event_id)
    if not receipts:
        raise HTTPException(404, f"no event {event_id!r} in account {account!r}")
    failed = [r for r in receipts if r["status"] == "failed"]
    if not failed:
        state = receipts[0]["status"]
        raise HTTPException(409, f"event {event_id!r} is {state}, not failed: nothing to re-drive")
    record = record_from_receipt(failed[0])
    record["attempt"] += 1
    # Only a record within every bound is written again (the worker would fail it anyway).
    violations = limits.record_violations(record, now())
    if violations:
        reasons = "; ".join(f"{v.field}: {v.reason}" for v in violations)
        raise HTTPException(409, f"event {event_id!r} cannot be re-driven as stored: {reasons}")
    received = {
        "record": record,
        "status": "RECEIVED",
        "process_error": None,
        "raw": None,
        "updated_at": now(),
    }
    await gateway.writer.produce_many(
        [
            (gateway.topics.event_status, event_id, codec().encode("EventStatus", received)),
            (
                gateway.topics.incoming,
                routing_key(record),
                codec().encode("IncomingRecord", record),
            ),
        ],
        gateway.settings.produce_timeout_s,
    )
    return {"event_id": event_id, "status": "received", "attempt": record["attempt"]}
