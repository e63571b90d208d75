"""Segment dialect: ``/v1/identify``, ``/v1/track``, ``/v1/page``, ``/v1/screen``,
``/v1/group``, ``/v1/alias`` and ``/v1/batch`` as Segment's HTTP tracking API has them. A
Segment-compatible SDK moves by pointing its API host at the gateway and using an eventline
key as its write key (HTTP Basic user name, or ``writeKey`` in the body)."""

from __future__ import annotations

import contextlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from eventline.producers.dialects import segment
from eventline.producers.gateway.answers import error_responses
from eventline.producers.gateway.bodies import StrictRoute
from eventline.producers.gateway.deps import (
    Body,
    BodyDep,
    DialectAnswer,
    Gateway,
    GatewayDep,
    presented_key,
    resolve_account,
)
from eventline.producers.problems import TOO_LARGE, status_of
from eventline.producers.validation import (
    InputRejected,
    Problem,
    parse_contact,
    parse_event,
    rejected_record,
)
from eventline.schemas.accounts.registry import AuthError
from eventline.schemas.model import CONTACT, EVENT, alias_claims, claims_to, identity_key, now

router = APIRouter(
    route_class=StrictRoute, responses=error_responses("segment"), prefix="/v1", tags=["segment"]
)
SOURCE = "segment"
OK = {"success": True}
TRACK = {
    "userId": "u-1",
    "event": "Order Completed",
    "properties": {"revenue": 12.5, "sku": "MUG-1"},
    "timestamp": "2026-11-23T10:00:00Z",
    "messageId": "msg-1001",
}
PAGE = {"userId": "u-1", "properties": {"url": "https://example.com/pricing"}}
Rejection = tuple[dict[str, Any], list[Problem], str | None]


def _account(gateway: Gateway, authorization: str | None, body: Body, named: str | None) -> str:
    """The write key's account: HTTP Basic (or Bearer), else ``writeKey`` in the body."""
    write_key = body.data.get("writeKey") if isinstance(body.data, dict) else None
    key = presented_key(authorization, None) or (str(write_key) if write_key else None)
    try:
        return resolve_account(gateway, key, named)
    except AuthError as exc:
        answer = {"success": False, "code": segment.code(exc.status), "message": exc.reason}
        raise DialectAnswer(exc.status, answer) from None


Claims = list[tuple[str, dict[str, Any]]]


def _one(
    account: str, kind: str, message: Any, received_at: Any, backfill: bool = False
) -> tuple[dict[str, Any] | None, Claims, Rejection | None]:
    """(record, its identity claims, None) for a valid call, (None, [], rejection) otherwise.
    ``backfill``: the request asked for its events to be stored, never to trigger."""
    try:
        if _size(message) > segment.MAX_CALL_BYTES:
            reason = f"is larger than Segment's {segment.MAX_CALL_BYTES // 1024} KB per call"
            raise InputRejected([Problem(field="body", reason=reason, status=TOO_LARGE)])
        native = segment.to_native(kind, message, received_at)
        record = _parsed(native, kind, message, account, received_at)
        if backfill and record["kind"] == EVENT:
            record["is_syncing"] = True
        return record, _claims(record, native.previous), None
    except InputRejected as exc:
        return None, [], _rejection(account, kind, message, received_at, exc.problems)


def _parsed(
    native: segment.Native, kind: str, message: Any, account: str, received_at: Any
) -> dict[str, Any]:
    """The incoming record of a call; its problems name Segment's fields."""
    try:
        if native.kind == "event":
            return parse_event(native.data, account=account, source=SOURCE, received_at=received_at)
        return parse_contact(native.data, account=account, source=SOURCE, received_at=received_at)
    except InputRejected as exc:
        renamed = [
            p.model_copy(update={"field": segment.client_field(p.field, kind, message)})
            for p in exc.problems
        ]
        raise InputRejected(renamed) from None


def _claims(record: dict[str, Any], previous: list[str]) -> Claims:
    """The identity claims that make each of the record's identifiers, and each previous user
    id (alias, identify with an anonymousId), resolve to the record's contact: the same
    IDENTITY records a registration's own secondary identifiers get."""
    claims = alias_claims(record) if record["kind"] == CONTACT else []
    keys = [identity_key(record["account_id"], "user", u) for u in previous]
    taken = {key for key, _ in claims}
    return claims + claims_to(record, [k for k in keys if k not in taken])


def _rejection(
    account: str, kind: str, message: Any, received_at: Any, problems: list[Problem]
) -> Rejection:
    fields = message if isinstance(message, dict) else {}
    seen = {"name": segment.event_name(kind, fields), "idempotency_key": fields.get("messageId")}
    with contextlib.suppress(InputRejected):  # a bad userId is reported already
        seen.update(segment.who(fields))
    record = rejected_record(
        seen,
        account=account,
        source=SOURCE,
        received_at=received_at,
        kind=EVENT if kind in segment.EVENT_TYPES else CONTACT,
    )
    return record, problems, json.dumps(message, default=str)[:65536]


def _size(message: Any) -> int:
    return len(json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode())


async def _answer(
    gateway: Gateway,
    account: str,
    calls: list[tuple[str, Any]],
    prefix: bool,
    backfill: bool = False,
) -> JSONResponse:
    received_at = now()
    accepted: list[dict[str, Any]] = []
    claims: list[tuple[str, dict[str, Any]]] = []
    rejected: list[Rejection] = []
    errors: list[dict[str, str]] = []
    for index, (kind, message) in enumerate(calls):
        record, its_claims, rejection = _one(account, kind, message, received_at, backfill)
        if record is not None:
            accepted.append(record)
            claims.extend(its_claims)
        elif rejection is not None:
            rejected.append(rejection)
            where = f"batch[{index}]." if prefix else ""
            errors.extend({"field": where + p.field, "reason": p.reason} for p in rejection[1])
    await gateway.publish(accepted, rejected, claims)
    if errors:
        status = status_of(p for r in rejected for p in r[1])
        message = "invalid calls were not recorded as accepted: " + "; ".join(
            f"{e['field']}: {e['reason']}" for e in errors
        )
        content = {"success": False, "code": segment.code(status), "message": message}
        return JSONResponse(status_code=status, content={**content, "errors": errors})
    return JSONResponse(status_code=200, content=OK)


def _body(example: Any) -> dict[str, Any]:
    content = {"application/json": {"schema": {"type": "object"}, "example": example}}
    return {"requestBody": {"required": True, "content": content}}


AuthHeader = Annotated[str | None, Header(description="Basic <writeKey>: (or writeKey in body)")]


async def _single(
    gateway: Gateway, body: Body, kind: str, auth: str | None, named: str | None
) -> JSONResponse:
    account = _account(gateway, auth, body, named)
    if body.error is not None:
        return await _refused_whole(gateway, account, body, [body.error])
    return await _answer(gateway, account, [(kind, body.data)], prefix=False)


async def _refused_whole(
    gateway: Gateway, account: str, body: Body, problems: list[Problem]
) -> JSONResponse:
    """Record a request refused whole (with its raw text), and answer it."""
    record = rejected_record({}, account=account, source=SOURCE, received_at=now())
    await gateway.publish([], [(record, problems, body.raw)])
    return _refused(problems)


def _refused(problems: list[Problem]) -> JSONResponse:
    """Segment's answer to a request refused whole."""
    message = "; ".join(f"{p.field}: {p.reason}" for p in problems)
    errors = [p.model_dump() for p in problems]
    status = status_of(problems)
    content = {"success": False, "code": segment.code(status), "message": message}
    return JSONResponse(status_code=status, content={**content, "errors": errors})


@router.post("/track", openapi_extra=_body(TRACK))
async def track(
    gateway: GatewayDep,
    body: BodyDep,
    authorization: AuthHeader = None,
    x_eventline_account: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Record an event (``event``, ``properties``, ``userId``/``anonymousId``, timestamps,
    ``messageId`` as idempotency key). 200 ``{"success": true}`` once Kafka has it."""
    return await _single(gateway, body, "track", authorization, x_eventline_account)


@router.post(
    "/identify",
    openapi_extra=_body({"userId": "u-1", "traits": {"email": "ada@example.com", "plan": "pro"}}),
)
async def identify(
    gateway: GatewayDep,
    body: BodyDep,
    authorization: AuthHeader = None,
    x_eventline_account: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Register or update a contact: ``userId``, ``traits`` (``email`` names it; every trait
    is merged into its attributes)."""
    return await _single(gateway, body, "identify", authorization, x_eventline_account)


@router.post("/page", openapi_extra=_body({**PAGE, "name": "Pricing"}))
async def page(
    gateway: GatewayDep,
    body: BodyDep,
    authorization: AuthHeader = None,
    x_eventline_account: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """A page view: the event ``Page Viewed``, with ``name`` and ``category`` among its
    ``properties``."""
    return await _single(gateway, body, "page", authorization, x_eventline_account)


@router.post("/screen", openapi_extra=_body({**PAGE, "name": "Basket"}))
async def screen(
    gateway: GatewayDep,
    body: BodyDep,
    authorization: AuthHeader = None,
    x_eventline_account: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """A mobile screen view: the event ``Screen Viewed``, as ``page``."""
    return await _single(gateway, body, "screen", authorization, x_eventline_account)


@router.post(
    "/group",
    openapi_extra=_body({"userId": "u-1", "groupId": "acme", "traits": {"name": "Acme Inc"}}),
)
async def group(
    gateway: GatewayDep,
    body: BodyDep,
    authorization: AuthHeader = None,
    x_eventline_account: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Put the contact in a group: its attributes ``group_id`` and ``group_traits``."""
    return await _single(gateway, body, "group", authorization, x_eventline_account)


@router.post("/alias", openapi_extra=_body({"previousId": "anon-7", "userId": "u-1"}))
async def alias(
    gateway: GatewayDep,
    body: BodyDep,
    authorization: AuthHeader = None,
    x_eventline_account: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Link ``previousId`` (an anonymousId or an earlier userId) to ``userId``: calls under
    either then reach the user's contact."""
    return await _single(gateway, body, "alias", authorization, x_eventline_account)


@router.post("/batch", openapi_extra=_body({"batch": [{"type": "track", **TRACK}]}))
async def batch(
    gateway: GatewayDep,
    body: BodyDep,
    authorization: AuthHeader = None,
    x_eventline_account: Annotated[str | None, Header()] = None,
    x_eventline_backfill: Annotated[
        bool,
        Header(
            description="eventline's own: true stores the batch's events as backfill "
            "(is_syncing: never triggering), as `eventline import --dialect segment` sends "
            "a Segment export."
        ),
    ] = False,
) -> JSONResponse:
    """Many calls at once (``batch``: each with its ``type``: identify, track, page, screen,
    group or alias), in order. The valid calls are recorded even when others are refused."""
    account = _account(gateway, authorization, body, x_eventline_account)
    try:
        if body.error is not None:
            raise InputRejected([body.error])
        items = segment.batch_items(body.data)
    except InputRejected as exc:
        return await _refused_whole(gateway, account, body, exc.problems)
    if len(items) > gateway.settings.bulk_max_events:
        limit = gateway.settings.bulk_max_events
        reason = f"has more than {limit} calls"
        return _refused([Problem(field="batch", reason=reason, status=TOO_LARGE)])
    calls = [(str(m.get("type")) if isinstance(m, dict) else "", m) for m in items]
    return await _answer(gateway, account, calls, prefix=True, backfill=x_eventline_backfill)
