"""MailerPath dialect: client event routes and the authenticated read routes.

A client moves by pointing its base URL at the gateway and using an eventline API key
(``Authorization: Bearer <key>`` or ``X-Api-Key``).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse

from eventline.producers.dialects import mailerpath
from eventline.producers.gateway.answers import error_responses
from eventline.producers.gateway.bodies import StrictRoute
from eventline.producers.gateway.deps import AccountDep, Body, BodyDep, GatewayDep
from eventline.producers.gateway.events import accept_events
from eventline.producers.validation import InputRejected

router = APIRouter(
    route_class=StrictRoute,
    responses=error_responses("native"),
    prefix="/api/v1",
    tags=["mailerpath"],
)
SOURCE = "mailerpath"
EXAMPLE = {
    "event_type": "purchase",
    "name": "ordered_mug",
    "email": "ada@example.com",
    "properties": {"sku": "MUG-1"},
    "value": 12.5,
    "idempotency_key": "order-1001",
}


def _body(example: Any) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}, "example": example}},
        }
    }


@router.post("/client/events", status_code=202, openapi_extra=_body(EXAMPLE))
async def client_event(
    gateway: GatewayDep,
    account: AccountDep,
    body: BodyDep,
    idempotency_key: str | None = Header(default=None),
) -> JSONResponse:
    """Send one event: ``event_type`` (signup, purchase, core_activity, referral, feature_used,
    support_ticket, cart, re_engagement), ``email`` or ``user_id``, optional ``name`` (defaults
    to the type), ``properties``, ``value``, ``occurred_at``, ``idempotency_key``."""
    if isinstance(body.data, list):
        body = Body(data=None, source=body.source, raw=body.raw)  # one event, not an array
    return await accept_events(
        gateway, body, account, idempotency_key, translate=mailerpath.to_native, source=SOURCE
    )


@router.post("/client/events/bulk", status_code=202, openapi_extra=_body({"events": [EXAMPLE]}))
async def client_events_bulk(
    gateway: GatewayDep, account: AccountDep, body: BodyDep
) -> JSONResponse:
    """Send many events: ``{"events": [...]}`` (or a bare array); a result per event."""
    if body.error is None:
        try:
            items = mailerpath.bulk_items(body.data)
        except InputRejected as exc:
            problem = exc.problems[0]
            return JSONResponse(
                status_code=400,
                content={"error": "invalid_event", "errors": [problem.model_dump()]},
            )
        body = Body(data=items, source=body.source, raw=body.raw)
    return await accept_events(
        gateway, body, account, None, translate=mailerpath.to_native, source=SOURCE
    )


@router.get("/public/authenticated/events")
def events(
    gateway: GatewayDep,
    account: AccountDep,
    email: str | None = None,
    user_id: str | None = None,
    event_type: str | None = None,
    name: str | None = None,
    limit: int = Query(default=50, ge=1, le=1000),
    offset: int = Query(default=0, ge=0),
) -> dict[str, Any]:
    """The account's canonical events, newest first, filtered by contact, type or name."""
    filters = {
        "email": email.strip().lower() if email else None,
        "user_id": user_id,
        "event_type": event_type,
        "name": name,
    }
    rows, total = gateway.require_reads().account_events(account, filters, limit, offset)
    return {"events": rows, "total_items": total, "limit": limit, "offset": offset}


@router.get("/public/authenticated/events/incoming")
def incoming_events(
    gateway: GatewayDep,
    account: AccountDep,
    status: Literal["received", "processed", "duplicate", "rejected", "failed"] | None = None,
    limit: int = Query(default=50, ge=1, le=1000),
    offset: int = Query(default=0, ge=0),
) -> dict[str, Any]:
    """Every incoming event with its ``status`` and ``process_error``, newest first."""
    rows, total = gateway.require_reads().incoming_list(account, status, limit, offset)
    return {"incoming_events": rows, "total_items": total, "limit": limit, "offset": offset}
