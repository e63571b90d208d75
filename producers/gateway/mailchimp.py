"""Mailchimp dialect: the list-member Events API at Mailchimp's own paths, and the member
routes its clients call to add a member before they retry an event (on 404).

A client moves by changing its base URL to ``http://<gateway>/3.0`` and its API key to an
eventline key (HTTP Basic ``anystring:<key>``, as Mailchimp's clients send it; a key of the
``mailchimp`` shape for SDKs that check it, and ``-<datacenter>`` appended or not).
Whether a member exists is the member index's word (producers/members.py), read without
waiting for the worker: an event for an unknown member is 404, as Mailchimp answers it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import JSONResponse

from eventline.core.errors import TransientError
from eventline.producers.dialects import mailchimp
from eventline.producers.gateway.answers import error_responses
from eventline.producers.gateway.bodies import StrictRoute
from eventline.producers.gateway.deps import (
    Body,
    BodyDep,
    DialectAnswer,
    GatewayDep,
    presented_key,
    resolve_account,
)
from eventline.producers.validation import (
    InputRejected,
    parse_contact,
    parse_event,
    rejected_record,
)
from eventline.schemas.accounts.registry import AuthError, key_id_of
from eventline.schemas.model import CONTACT, alias_claims, now

router = APIRouter(
    route_class=StrictRoute,
    responses=error_responses("mailchimp"),
    prefix="/3.0/lists/{list_id}/members",
    tags=["mailchimp"],
)


async def mailchimp_account(
    gateway: GatewayDep,
    authorization: Annotated[str | None, Header(description="Basic anystring:<key>")] = None,
    x_eventline_account: Annotated[str | None, Header()] = None,
) -> str:
    """The key's account; auth failures in Mailchimp's shape. A key that is refused as
    presented is tried once more without a ``-<datacenter>`` suffix (``<key>-us1``); a key
    still unknown is looked up again once this process has read the accounts topic to its
    end (a key created a moment ago through another gateway process)."""
    key = presented_key(authorization, None)
    try:
        try:
            return _account_of(gateway, key, x_eventline_account)
        except AuthError as exc:
            # Only a key shaped like ours is worth a look at the topic's end: junk must not
            # cost a broker round trip each.
            if exc.status != 401 or key is None or not _shaped_like_ours(key):
                raise
            try:
                await gateway.accounts.sync()
            except TransientError:
                doc = mailchimp.problem(503, "Service Unavailable", "keys cannot be read now")
                raise DialectAnswer(503, doc) from None
            return _account_of(gateway, key, x_eventline_account)
    except AuthError as exc:
        title = "API Key Invalid" if exc.status == 401 else "Forbidden"
        doc = mailchimp.problem(exc.status, title, exc.reason)
        raise DialectAnswer(exc.status, doc) from None


def _shaped_like_ours(key: str) -> bool:
    bare = mailchimp.without_datacenter(key)
    return key_id_of(key) is not None or (bare is not None and key_id_of(bare) is not None)


def _account_of(gateway: GatewayDep, key: str | None, named: str | None) -> str:
    try:
        return resolve_account(gateway, key, named)
    except AuthError as exc:
        bare = mailchimp.without_datacenter(key) if key and exc.status == 401 else None
        if bare is None:
            raise
        return resolve_account(gateway, bare, named)


AccountDep = Annotated[str, Depends(mailchimp_account)]
FieldsQuery = Annotated[
    str | None, Query(description="Dotted paths to return, comma-separated (Mailchimp's).")
]
ExcludeQuery = Annotated[
    str | None, Query(description="Dotted paths to leave out, comma-separated (Mailchimp's).")
]
EXAMPLE = {
    "name": "registered_referral",
    "properties": {"referral_code": "GAMER42"},
    "occurred_at": "2026-11-23T10:00:00Z",
    "is_syncing": False,
}
MEMBER_EXAMPLE = {
    "email_address": "ada@example.com",
    "status": "subscribed",
    "merge_fields": {"FNAME": "Ada"},
}


def _json_body(example: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}, "example": example}},
        }
    }


@router.post(
    "/{subscriber_hash}/events",
    status_code=204,
    response_class=Response,
    openapi_extra=_json_body(EXAMPLE),
)
async def add_event(
    gateway: GatewayDep, account: AccountDep, body: BodyDep, list_id: str, subscriber_hash: str
) -> Response:
    """Add an event for a list member (204 once Kafka has it). ``subscriber_hash``: MD5 of
    the lower-cased email, or the email itself. 404 for a path that names no member (not an
    MD5, not an email) and, once the body is valid, for a member no contact is (add it, then
    retry): nothing is recorded then, and no contact is created."""
    received_at = now()
    source = f"mailchimp:{list_id}"
    named = mailchimp.member_identity(account, subscriber_hash)
    if named is None:
        raise DialectAnswer(404, mailchimp.not_found())
    identity, route_key = named
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
    hashed = mailchimp.member_hash(subscriber_hash)
    if hashed is not None and await gateway.members.knows(account, hashed) is False:
        raise DialectAnswer(404, mailchimp.not_found())
    await gateway.publish([record])
    return Response(status_code=204)


@router.get("/{subscriber_hash}/events")
def list_events(
    gateway: GatewayDep,
    account: AccountDep,
    list_id: str,
    subscriber_hash: str,
    count: int = Query(default=10, ge=1, le=1000),
    offset: int = Query(default=0, ge=0),
    fields: FieldsQuery = None,
    exclude_fields: ExcludeQuery = None,
) -> dict[str, Any]:
    """A member's events, newest first: ``events`` and ``total_items`` (10 by default)."""
    contact = _stored_member(gateway, account, subscriber_hash)
    events, total = gateway.require_reads().timeline(account, contact["contact_id"], count, offset)
    doc = {
        "events": [mailchimp.event_view(e) for e in events],
        "total_items": total,
        "_links": [],
    }
    return dict(mailchimp.select_fields(doc, fields, exclude_fields))


@router.get("/{subscriber_hash}")
def get_member(
    gateway: GatewayDep,
    account: AccountDep,
    list_id: str,
    subscriber_hash: str,
    fields: FieldsQuery = None,
    exclude_fields: ExcludeQuery = None,
) -> dict[str, Any]:
    """A member, as ClickHouse holds its contact (a member added a moment ago is 404 until
    the sink has it, seconds later)."""
    contact = _stored_member(gateway, account, subscriber_hash)
    doc = _view(list_id, contact)
    return dict(mailchimp.select_fields(doc, fields, exclude_fields))


@router.post("", openapi_extra=_json_body(MEMBER_EXAMPLE))
async def add_member(
    gateway: GatewayDep, account: AccountDep, body: BodyDep, list_id: str
) -> JSONResponse:
    """Add a member: registers the contact (email, ``merge_fields`` as attributes, status).
    400 "Member Exists" for a member the index knows (use PUT to add or update)."""
    email = body.data.get("email_address") if isinstance(body.data, dict) else None
    hashed = mailchimp.member_hash(email) if isinstance(email, str) and "@" in email else None
    if hashed is not None and await gateway.members.knows(account, hashed):
        raise DialectAnswer(400, mailchimp.member_exists(email or ""))
    return await _register(gateway, account, body, list_id, hash_in_path=None, known=False)


@router.put("/{subscriber_hash}", openapi_extra=_json_body(MEMBER_EXAMPLE))
async def put_member(
    gateway: GatewayDep, account: AccountDep, body: BodyDep, list_id: str, subscriber_hash: str
) -> JSONResponse:
    """Add or update a member (``status_if_new`` for a new one). ``email_address`` must hash
    to the path's subscriber hash."""
    hashed = mailchimp.member_hash(subscriber_hash)
    if hashed is None:
        raise DialectAnswer(404, mailchimp.not_found())
    known = await gateway.members.knows(account, hashed)
    return await _register(gateway, account, body, list_id, hash_in_path=hashed, known=known)


async def _register(
    gateway: GatewayDep,
    account: str,
    body: Body,
    list_id: str,
    *,
    hash_in_path: str | None,
    known: bool | None,
) -> JSONResponse:
    """Register the member's contact; answer once Kafka holds it and its index entry, so a
    retried event finds the member on any gateway process."""
    received_at, source = now(), f"mailchimp:{list_id}"
    try:
        if body.error is not None:
            raise InputRejected([body.error])
        native = mailchimp.to_contact(body.data, list_id, hash_in_path=hash_in_path, known=known)
        record = parse_contact(native, account=account, source=source, received_at=received_at)
    except InputRejected as exc:
        problems = mailchimp.renamed(exc.problems)
        data = body.data if isinstance(body.data, dict) else {}
        record = rejected_record(
            data, account=account, source=source, received_at=received_at, kind=CONTACT
        )
        await gateway.publish([], [(record, problems, body.raw)])
        return JSONResponse(status_code=400, content=mailchimp.invalid(problems))
    await gateway.publish([record], claims=alias_claims(record))
    attributes = json.loads(record["attributes_json"])
    return JSONResponse(mailchimp.member_view(list_id, record["email"], attributes))


def _stored_member(gateway: GatewayDep, account: str, member: str) -> dict[str, Any]:
    """The member's contact as ClickHouse holds it; 404 in Mailchimp's shape."""
    reads = gateway.require_reads()
    hashed = mailchimp.member_hash(member)
    found = reads.find_contacts(account, subscriber_hash=hashed) if hashed else []
    if not found:
        raise DialectAnswer(404, mailchimp.not_found())
    return found[0]


def _view(list_id: str, contact: dict[str, Any]) -> dict[str, Any]:
    return mailchimp.member_view(
        list_id,
        contact["email"],
        contact.get("attributes") or {},
        contact_id=contact["contact_id"],
        last_changed=contact.get("updated_at"),
    )
