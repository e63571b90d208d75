"""Emma dialect: member event types and member events under ``/{account_id}/events``.

``account_id`` is the account's number; the key comes as HTTP Basic (Emma's
``public_key:private_key``: the eventline key as password, or alone). A key only ever acts on
its own account's number.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse

from eventline.producers.dialects import emma
from eventline.producers.gateway.answers import error_responses
from eventline.producers.gateway.bodies import StrictRoute
from eventline.producers.gateway.deps import (
    Body,
    BodyDep,
    DialectAnswer,
    Gateway,
    GatewayDep,
    presented_key,
)
from eventline.producers.problems import status_of
from eventline.producers.validation import InputRejected, Problem, parse_event, rejected_record
from eventline.schemas.accounts import ledger
from eventline.schemas.accounts.ledger import Outcome
from eventline.schemas.accounts.registry import AuthError
from eventline.schemas.model import now

router = APIRouter(
    route_class=StrictRoute,
    responses=error_responses("emma"),
    prefix="/{account_id:int}/events",
    tags=["emma"],
)
SOURCE = "emma"


async def emma_account(
    account_id: int,
    gateway: GatewayDep,
    authorization: Annotated[str | None, Header(description="Basic public:private")] = None,
) -> str:
    """The key's account, which must be the one the path names."""
    try:
        account = gateway.accounts.authenticate(presented_key(authorization, None) or "")
    except AuthError as exc:
        raise DialectAnswer(exc.status, {"error": exc.reason}) from None
    if gateway.accounts.account(account).get("number") != account_id:
        raise DialectAnswer(403, {"error": f"this key does not belong to account {account_id}"})
    return account


AccountDep = Annotated[str, Depends(emma_account)]


def _types(gateway: Gateway, account: str) -> list[dict[str, Any]]:
    return emma.event_types(gateway.accounts.settings_of(account))


def _bad(problems: list[Problem]) -> DialectAnswer:
    reasons = "; ".join(f"{p.field}: {p.reason}" for p in problems)
    errors = [p.model_dump() for p in problems]
    return DialectAnswer(status_of(problems), {"error": reasons, "errors": errors})


def _type_body(body: Body) -> tuple[str, str]:
    try:
        if body.error is not None:
            raise InputRejected([body.error])
        return emma.check_type_body(body.data)
    except InputRejected as exc:
        raise _bad(exc.problems) from None


def _one_type(types: list[dict[str, Any]], event_type_id: int) -> dict[str, Any]:
    found = emma.find_type(types, {"event_type_id": event_type_id})
    if found is None:
        raise DialectAnswer(404, {"error": f"no member event type {event_type_id}"})
    return found


def _refused(outcome: Outcome) -> DialectAnswer:
    if outcome.error == ledger.LIMIT:  # the account is full: say which field cannot grow
        return _bad([Problem(field="event_type", reason=outcome.reason)])
    status = 404 if outcome.error == ledger.NOT_FOUND else 400
    return DialectAnswer(status, {"error": outcome.reason})


@router.post("")
async def create_type(
    gateway: GatewayDep, account: AccountDep, account_id: int, body: BodyDep
) -> dict[str, Any]:
    """Create a member event type (400 without ``event_type`` or ``display_name``, or when the
    type exists already). Its ``event_type_id`` is never given to another type."""
    event_type, display_name = _type_body(body)
    outcome = await gateway.accounts.change(
        account,
        ledger.CREATE_EVENT_TYPE,
        expect=(ledger.EXISTS, ledger.LIMIT),
        event_type=event_type,
        display_name=display_name,
        created_at=emma.emma_time(now()),
    )
    if not outcome.ok:
        raise _refused(outcome)
    return emma.type_view(account_id, outcome.value)


@router.get("")
async def list_types(
    gateway: GatewayDep, account: AccountDep, account_id: int
) -> list[dict[str, Any]]:
    """Every member event type of the account."""
    await gateway.accounts.sync()
    return [emma.type_view(account_id, t) for t in _types(gateway, account)]


@router.get("/{event_type_id:int}")
async def get_type(
    gateway: GatewayDep, account: AccountDep, account_id: int, event_type_id: int
) -> dict[str, Any]:
    """One member event type (404 when missing)."""
    await gateway.accounts.sync()
    return emma.type_view(account_id, _one_type(_types(gateway, account), event_type_id))


@router.put("/{event_type_id:int}")
async def update_type(
    gateway: GatewayDep, account: AccountDep, account_id: int, event_type_id: int, body: BodyDep
) -> dict[str, Any]:
    """Change a type's ``event_type`` and ``display_name`` (404 when missing, 400 when another
    type has that ``event_type``)."""
    event_type, display_name = _type_body(body)
    outcome = await gateway.accounts.change(
        account,
        ledger.UPDATE_EVENT_TYPE,
        expect=(ledger.EXISTS, ledger.NOT_FOUND, ledger.LIMIT),
        event_type_id=event_type_id,
        event_type=event_type,
        display_name=display_name,
    )
    if not outcome.ok:
        raise _refused(outcome)
    return emma.type_view(account_id, outcome.value)


@router.delete("/{event_type_id:int}")
async def delete_type(
    gateway: GatewayDep, account: AccountDep, event_type_id: int
) -> dict[str, Any]:
    """Delete a type and every event of it from timelines and analytics (not reversible)."""
    reads = gateway.require_reads()
    outcome = await gateway.accounts.change(
        account,
        ledger.DELETE_EVENT_TYPE,
        expect=(ledger.NOT_FOUND,),
        event_type_id=event_type_id,
        cutoff=now().isoformat(),
    )
    if not outcome.ok:
        raise _refused(outcome)
    # At once for this answer; the sink erases again, and never rewrites them on a replay.
    # In a thread: a lightweight delete still takes ClickHouse's lock, and the event loop
    # serves every other request meanwhile.
    await asyncio.to_thread(reads.delete_events_of_type, account, outcome.value["event_type"])
    return {"deleted": True}


@router.post("/members")
async def add_member_events(
    gateway: GatewayDep, account: AccountDep, account_id: int, body: BodyDep
) -> JSONResponse:
    """Record 1 to 10 member events, each naming the member (``email`` or ``member_id``) and
    the type (``event_type`` or ``event_type_id``); all are accepted, or none (400)."""
    received_at = now()
    types = _types(gateway, account)
    try:
        if body.error is not None:
            raise InputRejected([body.error])
        items = emma.member_events(body.data)
    except InputRejected as exc:
        record = rejected_record({}, account=account, source=SOURCE, received_at=received_at)
        await gateway.publish([], [(record, exc.problems, body.raw)])
        raise _bad(exc.problems) from None
    if any(_names_unknown_type(item, types) for item in items):
        await gateway.accounts.sync()  # a type answered a moment ago by another gateway
        types = _types(gateway, account)
    records, members, rejected, problems = [], [], [], []
    for index, item in enumerate(items):
        try:
            native, _ = emma.to_native(item, types)
            member = await asyncio.to_thread(_member, gateway, account, item)  # may read ClickHouse
            record = _parsed({**native, **member}, account, received_at)
        except InputRejected as exc:
            fields = item if isinstance(item, dict) else {}
            named = {"email": fields.get("email"), "name": fields.get("event_type")}
            bad = rejected_record(named, account=account, source=SOURCE, received_at=received_at)
            at_index = emma.at_event(exc.problems, index)
            rejected.append((bad, at_index, None))
            problems += at_index
            continue
        records.append(record)
        members.append(item.get("member_id") if isinstance(item, dict) else None)
    if problems:
        await gateway.publish([], rejected)
        raise _bad(problems)
    # The answer is built before anything is written: a failure now must not leave events
    # stored that the client will send again.
    views = []
    for record, member_id in zip(records, members, strict=True):
        view = emma.member_event_view(account_id, {**_stored(record), "contact_id": None}, types)
        if member_id is None:
            member_id = await asyncio.to_thread(_member_of, gateway, record)
        view["member_id"] = member_id
        views.append(view)
    await gateway.publish(records)
    return JSONResponse(status_code=200, content=views)


def _parsed(native: dict[str, Any], account: str, received_at: datetime) -> dict[str, Any]:
    """The incoming record of a member event; its problems with Emma's field names."""
    try:
        return parse_event(native, account=account, source=SOURCE, received_at=received_at)
    except InputRejected as exc:
        raise InputRejected(emma.emma_problems(exc.problems)) from None


def _names_unknown_type(item: Any, types: list[dict[str, Any]]) -> bool:
    named = isinstance(item, dict) and (
        item.get("event_type") is not None or item.get("event_type_id") is not None
    )
    return named and emma.find_type(types, item) is None


def _member(gateway: Gateway, account: str, item: dict[str, Any]) -> dict[str, Any]:
    """The native identity of a member event: its email, or the contact of its member_id."""
    if item.get("email"):
        return {"email": item["email"]}
    number = emma.integer(item["member_id"])
    if number is None:  # to_native refused it already
        raise InputRejected([Problem(field="member_id", reason="must be an integer")])
    contact = gateway.require_reads().contact_by_member_number(account, number)
    if contact is None:
        raise InputRejected([Problem(field="member_id", reason=f"no member {number}")])
    return {"contact_id": contact["contact_id"]}


def _stored(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "properties": json.loads(record["properties_json"])}


def _member_of(gateway: Gateway, record: dict[str, Any]) -> int | None:
    """The member id of an email, when ClickHouse already knows the contact."""
    if gateway.reads is None or not record.get("email"):
        return None
    found = gateway.reads.find_contacts(record["account_id"], email=record["email"])
    return emma.member_number(found[0]["contact_id"]) if found else None


@router.get("/members/{member_id:int}")
def member_events(
    gateway: GatewayDep, account: AccountDep, account_id: int, member_id: int
) -> list[dict[str, Any]]:
    """A member's events, newest first (404 when there is no such member)."""
    reads = gateway.require_reads()
    contact = reads.contact_by_member_number(account, member_id)
    if contact is None:
        raise DialectAnswer(404, {"error": f"no member {member_id}"})
    events, _ = reads.timeline(account, contact["contact_id"], 1000, 0)
    types = _types(gateway, account)
    return [emma.member_event_view(account_id, e, types) for e in events]
