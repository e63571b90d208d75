"""ActiveCampaign dialect: ``POST /event`` (trackcmp.net's form) and the ``/api/3`` event
tracking resources (the on/off switch, whitelisted names, tracking logs, activities).

The account is named by its number (``actid``) with one of its keys as the event ``key``; the
``/api/3`` routes take a key in ``Api-Token``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from eventline.producers.dialects import activecampaign as ac
from eventline.producers.gateway.answers import error_responses, refusal_body
from eventline.producers.gateway.bodies import StrictRoute
from eventline.producers.gateway.deps import BodyDep, DialectAnswer, GatewayDep
from eventline.producers.problems import status_of
from eventline.producers.validation import InputRejected, Problem, parse_event, rejected_record
from eventline.schemas.accounts import ledger
from eventline.schemas.accounts.registry import AuthError
from eventline.schemas.limits import TEXT_LIMITS
from eventline.schemas.model import now

router = APIRouter(
    route_class=StrictRoute,
    responses=error_responses("activecampaign", 422),
    tags=["activecampaign"],
)
SOURCE = "activecampaign"
NOT_AUTHORIZED = {"message": "You are not authorized to access this resource"}


async def api_account(
    gateway: GatewayDep, api_token: Annotated[str | None, Header(alias="Api-Token")] = None
) -> str:
    """The account of the ``Api-Token`` key."""
    try:
        return gateway.accounts.authenticate(api_token or "")
    except AuthError:
        raise DialectAnswer(403, NOT_AUTHORIZED) from None


ApiAccount = Annotated[str, Depends(api_account)]


@router.post("/event", openapi_extra={"requestBody": {"content": {"multipart/form-data": {}}}})
async def track_event(gateway: GatewayDep, body: BodyDep) -> JSONResponse:
    """Track an event (form-data ``actid``, ``key``, ``event``, ``eventdata``, ``visit``).

    200 ``{"success": 1, "message": "Event spawned"}`` once Kafka has it. Refused with
    ``success: 0``: a wrong key or actid (403), tracking switched off (403), a missing event
    name or visit email (400). The event needs an existing contact: for an unknown email it is
    not written, and shows as a failed incoming event.
    """
    if body.error is not None:
        reason = f"{body.error.field}: {body.error.reason}"
        return JSONResponse(status_code=400, content=ac.failure(reason))
    form = body.data if isinstance(body.data, dict) else {}
    try:
        account = gateway.accounts.authenticate(str(form.get("key") or ""))
    except AuthError:
        return JSONResponse(status_code=403, content=ac.failure("Invalid event key"))
    number = gateway.accounts.account(account).get("number")
    if ac.actid_of(form) != number:
        return JSONResponse(status_code=403, content=ac.failure("actid does not match the key"))
    received_at = now()
    try:
        if not ac.tracking_enabled(gateway.accounts.settings_of(account)):
            raise InputRejected([Problem(field="event", reason="event tracking is switched off")])
        record = _parsed(ac.to_native(form), account, received_at)
    except InputRejected as exc:
        named = {"name": form.get("event"), "email": ac.visit_email(form)}
        rejected = rejected_record(named, account=account, source=SOURCE, received_at=received_at)
        await gateway.publish([], [(rejected, exc.problems, body.raw)])
        switched_off = "switched off" in exc.problems[0].reason
        status = 403 if switched_off else status_of(exc.problems)
        message = "; ".join(f"{p.field}: {p.reason}" for p in exc.problems)
        return JSONResponse(status_code=status, content=ac.failure(message))
    await gateway.publish([record])
    return JSONResponse(status_code=200, content=ac.SPAWNED)


def _parsed(native: dict[str, Any], account: str, received_at: datetime) -> dict[str, Any]:
    """The incoming record of a tracking form; its problems under the form's field names."""
    try:
        return parse_event(
            native, account=account, source=SOURCE, received_at=received_at, unknown_contact="fail"
        )
    except InputRejected as exc:
        raise InputRejected(ac.form_problems(exc.problems)) from None


class Switch(BaseModel):
    enabled: bool


class EventTracking(BaseModel):
    eventTracking: Switch


class Name(BaseModel):
    # An event's name is at most this long: a longer whitelisted name could match nothing.
    name: str = Field(max_length=TEXT_LIMITS["name"])


class EventTrackingEvent(BaseModel):
    eventTrackingEvent: Name


@router.get("/api/3/eventTracking")
async def get_tracking(gateway: GatewayDep, account: ApiAccount) -> dict[str, Any]:
    """Whether event tracking is on (it is until switched off)."""
    await gateway.accounts.sync()
    enabled = ac.tracking_enabled(gateway.accounts.settings_of(account))
    return {"eventTracking": {"enabled": enabled}}


@router.post("/api/3/eventTracking")
async def set_tracking(
    gateway: GatewayDep, account: ApiAccount, body: EventTracking
) -> dict[str, Any]:
    """Switch event tracking on or off; while off, ``POST /event`` is refused."""
    outcome = await gateway.accounts.change(
        account, ledger.SET_TRACKING, enabled=body.eventTracking.enabled
    )
    return {"eventTracking": {"enabled": outcome.value}}


@router.get("/api/3/eventTrackingEvents")
async def list_names(gateway: GatewayDep, account: ApiAccount) -> dict[str, Any]:
    """The whitelisted event names (the ones automations may use)."""
    await gateway.accounts.sync()
    names = ac.whitelist(gateway.accounts.settings_of(account))
    return {"eventTrackingEvents": [{"name": n} for n in names], "meta": {"total": len(names)}}


@router.post("/api/3/eventTrackingEvents", status_code=201)
async def add_name(
    gateway: GatewayDep, account: ApiAccount, body: EventTrackingEvent
) -> dict[str, Any]:
    """Whitelist an event name (adding a listed name again changes nothing)."""
    name = body.eventTrackingEvent.name.strip()
    if name:
        outcome = await gateway.accounts.change(
            account, ledger.ADD_EVENT_NAME, expect=(ledger.LIMIT,), name=name
        )
        if outcome.error == ledger.LIMIT:  # as the v3 API refuses what it cannot take
            problem = Problem(field="eventTrackingEvent.name", reason=outcome.reason)
            path = "/api/3/eventTrackingEvents"
            raise DialectAnswer(422, refusal_body(path, 422, [problem]))
    return {"eventTrackingEvent": {"name": name}}


@router.delete("/api/3/eventTrackingEvents/{name:path}")
async def delete_name(gateway: GatewayDep, account: ApiAccount, name: str) -> dict[str, Any]:
    """Remove a name from the whitelist (URL-encoded); events already logged stay."""
    outcome = await gateway.accounts.change(
        account, ledger.REMOVE_EVENT_NAME, expect=(ledger.NOT_FOUND,), name=name
    )
    if outcome.error == ledger.NOT_FOUND:
        raise DialectAnswer(404, {"message": f"No Result found for EventTrackingEvent {name!r}"})
    return {}


def _contact(gateway: GatewayDep, account: str, contact_id: str) -> dict[str, Any]:
    found = gateway.require_reads().find_contacts(account, contact_id=contact_id)
    if not found:
        raise DialectAnswer(
            404, {"message": f"No Result found for Subscriber with id {contact_id}"}
        )
    return found[0]


@router.get("/api/3/contacts/{contact_id}")
def contact(
    gateway: GatewayDep, account: ApiAccount, contact_id: str, request: Request
) -> dict[str, Any]:
    """A contact (where a tracking log's ``links.contact`` leads); 404 when missing."""
    found = _contact(gateway, account, contact_id)
    return ac.contact_view(found, str(request.base_url).rstrip("/"))


def _logs(
    gateway: GatewayDep, account: str, contact_id: str, request: Request, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    _contact(gateway, account, contact_id)
    events, total = gateway.require_reads().timeline(account, contact_id, limit, offset)
    base = str(request.base_url).rstrip("/")
    return [ac.tracking_log(e, base) for e in events], total


@router.get("/api/3/contacts/{contact_id}/trackingLogs")
def tracking_logs(
    gateway: GatewayDep,
    account: ApiAccount,
    contact_id: str,
    request: Request,
    limit: int = Query(default=20, ge=1, le=100),
    offset: int = Query(default=0, ge=0),
) -> dict[str, Any]:
    """A contact's events as tracking logs, newest first."""
    logs, _ = _logs(gateway, account, contact_id, request, limit, offset)
    return {"trackingLogs": logs}


@router.get("/api/3/activities")
def activities(
    gateway: GatewayDep,
    account: ApiAccount,
    request: Request,
    contact: str = Query(description="The contact id"),
    limit: int = Query(default=20, ge=1, le=100),
    offset: int = Query(default=0, ge=0),
) -> dict[str, Any]:
    """A contact's events and the activities that reference them."""
    logs, total = _logs(gateway, account, contact, request, limit, offset)
    base = str(request.base_url).rstrip("/")
    return {
        "trackingLogs": logs,
        "activities": [ac.activity(log, base) for log in logs],
        "meta": {"total": str(total)},
    }
