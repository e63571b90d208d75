"""Native event API: POST /v1/events (one event, or a bulk array), JSON or form-data."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from eventline.producers.gateway.answers import error_responses
from eventline.producers.gateway.bodies import RAW_KEPT, StrictRoute
from eventline.producers.gateway.deps import AccountDep, Body, BodyDep, Gateway, GatewayDep
from eventline.producers.problems import prefixed, status_of
from eventline.producers.quick_event import quick_event
from eventline.producers.validation import (
    EventIn,
    InputRejected,
    Problem,
    parse_event,
    rejected_record,
)
from eventline.schemas.model import now

router = APIRouter(
    route_class=StrictRoute, responses=error_responses("native"), prefix="/v1", tags=["events"]
)

EXAMPLE = {
    "email": "ada@example.com",
    "name": "purchase",
    "properties": {"sku": "MUG-1", "color": "blue"},
    "value": 12.5,
    "occurred_at": "2026-11-23T10:00:00Z",
    "idempotency_key": "order-1001",
}
OPENAPI_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/EventIn"},
                        {"type": "array", "items": {"$ref": "#/components/schemas/EventIn"}},
                    ]
                },
                "examples": {"one": {"value": EXAMPLE}, "bulk": {"value": [EXAMPLE]}},
            },
            "application/x-www-form-urlencoded": {
                "schema": {"$ref": "#/components/schemas/EventIn"},
            },
        },
    }
}


class Answer(JSONResponse):
    """An accepted request's answer, rendered by orjson: the bytes Starlette's JSONResponse
    renders for it (text, integers, lists and objects only), a tenth of the time."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _result(record: dict[str, Any], duplicate: bool, received_at: str) -> dict[str, Any]:
    return {
        "event_id": record["event_id"],
        "status": "duplicate" if duplicate else "received",
        "received_at": received_at,
    }


def _rejection(record: dict[str, Any], problems: list[Problem]) -> dict[str, Any]:
    return {
        "event_id": record["event_id"],
        "status": "rejected",
        "errors": [p.model_dump() for p in problems],
    }


async def accept_events(
    gateway: Gateway,
    body: Body,
    account: str,
    idempotency_key: str | None,
    translate: Callable[[Any], Any] | None = None,
    source: str | None = None,
) -> JSONResponse:
    """Validate, publish and answer one event or a bulk array (shared by the dialects, whose
    ``translate`` turns each item into a native event or raises InputRejected)."""
    received_at = now()
    received_text = received_at.isoformat()  # one receipt time for every event of the request
    source = source or body.source
    bulk = isinstance(body.data, list)
    items = body.data if bulk else [body.data]
    if body.error is not None:
        record = rejected_record(None, account=account, source=source, received_at=received_at)
        await gateway.publish([], [(record, [body.error], body.raw)])
        content = {"error": "invalid_event", **_rejection(record, [body.error])}
        return JSONResponse(status_code=400, content=content)
    if bulk and len(items) > gateway.settings.bulk_max_events:
        return JSONResponse(
            status_code=413,
            content={
                "error": "too_many_events",
                "field": "body",
                "reason": f"at most {gateway.settings.bulk_max_events} events per request",
            },
        )
    if bulk and not items:
        return JSONResponse(
            status_code=400,
            content={"error": "invalid_event", "errors": [{"field": "body", "reason": "is empty"}]},
        )
    accepted, rejected, results = [], [], []
    quick = body.decoded_json and translate is None  # items as json_input decoded them
    fields: dict[str, Any] = {
        "account": account,
        "source": source,
        "received_at": received_at,
        "idempotency_key": None if bulk else idempotency_key,
    }
    for index, item in enumerate(items):
        prefix = f"[{index}]." if bulk else ""
        try:
            if translate is not None:
                item = _translated(translate, item, prefix)
            record = _record_of(item, quick, prefix, fields)
        except InputRejected as exc:
            record = rejected_record(item, account=account, source=source, received_at=received_at)
            rejected.append((record, exc.problems, body.raw if not bulk else _text(item)))
            results.append(_rejection(record, exc.problems))
            continue
        duplicate = gateway.seen_recently(record["account_id"], record["event_id"])
        accepted.append(record)
        results.append(_result(record, duplicate, received_text))
    await gateway.publish(accepted, rejected)
    refused = status_of(p for r in rejected for p in r[1])  # 413: past a size bound
    if not bulk:
        if not accepted:
            content = {"error": "invalid_event", **results[0]}
            return JSONResponse(status_code=refused, content=content)
        return Answer(status_code=202, content=results[0])
    code = 202 if not rejected else (refused if not accepted else 207)
    return Answer(
        status_code=code,
        content={"accepted": len(accepted), "rejected": len(rejected), "results": results},
    )


def _translated(translate: Callable[[Any], Any], item: Any, prefix: str) -> Any:
    try:
        return translate(item)
    except InputRejected as exc:
        raise InputRejected(prefixed(exc.problems, prefix)) from exc


def _record_of(item: Any, quick: bool, prefix: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The incoming record of one event, or InputRejected. ``quick``: the item is decoded
    JSON, and quick_event makes parse_event's record of a plainly valid event, cheaply."""
    record = quick_event(item, prefix=prefix, **fields) if quick else None
    return record if record is not None else parse_event(item, prefix=prefix, **fields)


def _text(item: Any) -> str:
    try:
        return json.dumps(item, ensure_ascii=False)[:RAW_KEPT]
    except (TypeError, ValueError):
        return repr(item)[:RAW_KEPT]


@router.post(
    "/events",
    status_code=202,
    openapi_extra=OPENAPI_BODY,
    responses={
        202: {"description": "Accepted: Kafka has the event. Body: event_id, status, received_at."},
        207: {"description": "Bulk with some events rejected: a result per event, in order."},
        400: {"description": "Rejected: `errors` names each field and reason. Still recorded."},
        413: {"description": "Bulk larger than EVENTLINE_BULK_MAX_EVENTS."},
        503: {"description": "Kafka did not acknowledge in time: retry with the same key."},
    },
)
async def post_events(
    gateway: GatewayDep,
    account: AccountDep,
    body: BodyDep,
    idempotency_key: str | None = Header(default=None),
) -> JSONResponse:
    """Send one event (JSON object or form fields) or many (JSON array).

    Identify the contact by `email` (case-insensitive), `user_id` (your own id) or `contact_id`.
    A resend with the same `idempotency_key` (body field or `Idempotency-Key` header) is counted
    once and reported as `duplicate`. The answer comes after Kafka acknowledged the write.
    """
    return await accept_events(gateway, body, account, idempotency_key)


# Registers the EventIn model in the OpenAPI components for the $ref above.
@router.post("/events/validate", response_model=None, include_in_schema=True, tags=["events"])
async def validate_event(event: EventIn) -> dict[str, str]:
    """Check an event without sending it: 200 when valid, 422 naming the fields otherwise."""
    return {"status": "valid", "name": event.name}
