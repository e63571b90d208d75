"""Mailchimp dialect: the list-member Events API at Mailchimp's own paths.

A client moves by changing its base URL to ``http://<gateway>/3.0`` and its API key to an
eventline key (HTTP Basic ``anystring:<key>``, as Mailchimp's clients send it).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import JSONResponse

from producers.accounts.registry import AuthError
from producers.dialects import mailchimp
from producers.gateway.answers import error_responses
from producers.gateway.bodies import StrictRoute
from producers.gateway.deps import (
    BodyDep,
    DialectAnswer,
    GatewayDep,
    presented_key,
    resolve_account,
)
from producers.validation import InputRejected, parse_event, rejected_record
from schemas.model import now
from sinks import queries

router = APIRouter(
    route_class=StrictRoute,
    responses=error_responses("mailchimp"),
    prefix="/3.0/lists/{list_id}/members/{subscriber_hash}",
    tags=["mailchimp"],
)


async def mailchimp_account(
    gateway: GatewayDep,
    authorization: Annotated[str | None, Header(description="Basic anystring:<key>")] = None,
    x_eventline_account: Annotated[str | None, Header()] = None,
) -> str:
    """The key's account; auth failures in Mailchimp's shape. A key that is refused as
    presented is tried once more without a ``-<datacenter>`` suffix (``<key>-us1``)."""
    key = presented_key(authorization, None)
    try:
        try:
            return resolve_account(gateway, key, x_eventline_account)
        except AuthError as exc:
            bare = mailchimp.without_datacenter(key) if key and exc.status == 401 else None
            if bare is None:
                raise
            return resolve_account(gateway, bare, x_eventline_account)
    except AuthError as exc:
        title = "API Key Invalid" if exc.status == 401 else "Forbidden"
        doc = mailchimp.problem(exc.status, title, exc.reason)
        raise DialectAnswer(exc.status, doc) from None


AccountDep = Annotated[str, Depends(mailchimp_account)]
EXAMPLE = {
    "name": "registered_referral",
    "properties": {"referral_code": "GAMER42"},
    "occurred_at": "2026-11-23T10:00:00Z",
    "is_syncing": False,
}


@router.post(
    "/events",
    status_code=204,
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}, "example": EXAMPLE}},
        }
    },
)
async def add_event(
    gateway: GatewayDep, account: AccountDep, body: BodyDep, list_id: str, subscriber_hash: str
) -> Response:
    """Add an event for a list member (204 once Kafka has it). ``subscriber_hash``: MD5 of
    the lower-cased email, or the email itself. Events for unknown members fail in the worker
    (``process_error`` in the incoming events) since a hash cannot create a contact."""
    received_at = now()
    source = f"mailchimp:{list_id}"
    identity, route_key = mailchimp.member_identity(account, subscriber_hash)
    try:
        if body.error is not None:
            raise InputRejected([body.error])
        native = mailchimp.to_native(body.data, identity)
        record = parse_event(
            native, account=account, source=source, received_at=received_at, route_key=route_key
        )
    except InputRejected as exc:
        data = {**body.data, **identity} if isinstance(body.data, dict) else identity
        record = rejected_record(data, account=account, source=source, received_at=received_at)
        await gateway.publish([], [(record, exc.problems, body.raw)])
        return JSONResponse(status_code=400, content=mailchimp.invalid(exc.problems))
    await gateway.publish([record])
    return Response(status_code=204)


@router.get("/events")
def list_events(
    gateway: GatewayDep,
    account: AccountDep,
    list_id: str,
    subscriber_hash: str,
    count: int = Query(default=10, ge=1, le=1000),
    offset: int = Query(default=0, ge=0),
) -> dict[str, Any]:
    """A member's events, newest first: ``events`` and ``total_items`` (10 by default)."""
    store = gateway.require_store()
    identity, route_key = mailchimp.member_identity(account, subscriber_hash)
    if route_key is not None:
        found = queries.find_contacts(store, account, subscriber_hash=subscriber_hash)
    else:
        found = queries.find_contacts(
            store, account, email=identity.get("email"), contact_id=identity.get("contact_id")
        )
    if not found:
        raise DialectAnswer(404, mailchimp.not_found())
    events, total = queries.timeline(store, account, found[0]["contact_id"], count, offset)
    return {
        "events": [mailchimp.event_view(e) for e in events],
        "total_items": total,
        "_links": [],
    }
