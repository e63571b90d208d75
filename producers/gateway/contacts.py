"""Native contact API: register/update contacts, look them up, read their timeline."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse

from eventline.producers.gateway.answers import error_responses
from eventline.producers.gateway.bodies import StrictRoute
from eventline.producers.gateway.deps import AccountDep, BodyDep, GatewayDep
from eventline.producers.validation import ContactIn, InputRejected, parse_contact, rejected_record
from eventline.schemas.model import CONTACT, alias_claims, normalize_email, now

router = APIRouter(
    route_class=StrictRoute,
    responses=error_responses("native"),
    prefix="/v1/contacts",
    tags=["contacts"],
)


@router.post(
    "",
    status_code=202,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/ContactIn"},
                    "example": {
                        "email": "ada@example.com",
                        "user_id": "u-1",
                        "attributes": {"plan": "pro"},
                    },
                }
            },
        }
    },
)
async def upsert_contact(gateway: GatewayDep, body: BodyDep, account: AccountDep) -> JSONResponse:
    """Register a contact or update one (attributes are merged). Answers once Kafka has it."""
    received_at = now()
    try:
        if body.error is not None:
            raise InputRejected([body.error])
        record = parse_contact(
            body.data, account=account, source=body.source, received_at=received_at
        )
    except InputRejected as exc:
        record = rejected_record(
            body.data, account=account, source=body.source, received_at=received_at, kind=CONTACT
        )
        await gateway.publish([], [(record, exc.problems, body.raw)])
        return JSONResponse(
            status_code=400,
            content={
                "error": "invalid_contact",
                "event_id": record["event_id"],
                "status": "rejected",
                "errors": [p.model_dump() for p in exc.problems],
            },
        )
    await gateway.publish([record], claims=alias_claims(record))
    return JSONResponse(
        status_code=202, content={"event_id": record["event_id"], "status": "received"}
    )


@router.get("")
def find_contacts(
    gateway: GatewayDep,
    account: AccountDep,
    email: str | None = None,
    user_id: str | None = None,
) -> dict[str, Any]:
    """Find contacts by email (case-insensitive) or user_id."""
    reads = gateway.require_reads()
    found = reads.find_contacts(
        account, email=normalize_email(email) if email else None, user_id=user_id
    )
    return {"contacts": found, "total_items": len(found)}


@router.get("/{contact_id}/events")
def contact_timeline(
    gateway: GatewayDep,
    account: AccountDep,
    contact_id: str,
    count: int = Query(default=10, ge=1, le=1000),
    offset: int = Query(default=0, ge=0),
) -> dict[str, Any]:
    """A contact's events, newest first."""
    reads = gateway.require_reads()
    events, total = reads.timeline(account, contact_id, count, offset)
    if total == 0 and not reads.find_contacts(account, contact_id=contact_id):
        raise HTTPException(404, f"no contact {contact_id!r} in account {account!r}")
    return {"contact_id": contact_id, "events": events, "total_items": total}


# Registers ContactIn in the OpenAPI components.
@router.post("/validate", include_in_schema=True)
async def validate_contact(contact: ContactIn) -> dict[str, str]:
    """Check a contact without sending it."""
    return {"status": "valid"}
