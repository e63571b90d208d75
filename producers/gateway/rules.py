"""Rules API: tag, segment and workflow rules of the request's account, and segment members.

Rules live on the compacted rules topic (``eventline.schemas.rules.catalog``); a write answers once
it is applied in order with every other write of the rule, from any gateway (its version is the
one stored), and applies to the events received after the answer, on every worker. Reads
first read the topic up to now, so they show every write answered before them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse

from eventline.producers.gateway.answers import error_responses
from eventline.producers.gateway.bodies import StrictRoute
from eventline.producers.gateway.deps import AccountDep, BodyDep, GatewayDep
from eventline.schemas.rules.catalog import RuleConflict, RuleRejected, rule_view
from eventline.schemas.rules.model import KINDS, RULE_ID_PATTERN

router = APIRouter(
    route_class=StrictRoute, responses=error_responses("native"), prefix="/v1", tags=["rules"]
)

EXAMPLES: dict[str, dict[str, Any]] = {
    "tag": {
        "summary": "tag mug viewers",
        "value": {
            "kind": "tag",
            "when": {
                "name": "viewed_product",
                "where": [{"property": "category", "op": "equals", "value": "mugs"}],
            },
            "add": ["mug-enthusiast"],
        },
    },
    "segment": {
        "summary": "active in the last 7 days",
        "value": {
            "kind": "segment",
            "name": "Active this week",
            "condition": {"kind": "did", "name": "login", "within_days": 7},
        },
    },
    "workflow": {
        "summary": "referral discount, once per contact",
        "value": {
            "kind": "workflow",
            "workflow_id": "referral-discount-email",
            "when": {"name": "registered_referral"},
            "once_per_contact": True,
        },
    },
}
RULE_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"examples": EXAMPLES}}}
}


def _invalid(problems: list[dict[str, str]]) -> JSONResponse:
    return JSONResponse(status_code=400, content={"error": "invalid_rule", "errors": problems})


def _not_found(exc: LookupError) -> HTTPException:
    return HTTPException(404, {"error": "not_found", "reason": str(exc.args[0])})


def _conflict(exc: RuleConflict, rule_id: str) -> HTTPException:
    if exc.limit:
        return HTTPException(409, {"error": "too_many_rules", "reason": exc.reason})
    reason = f"rule {rule_id!r} exists already (PUT /v1/rules/{rule_id} replaces it)"
    return HTTPException(409, {"error": "conflict", "reason": reason})


@router.get("/rules")
async def list_rules(
    gateway: GatewayDep, account: AccountDep, kind: str | None = Query(default=None)
) -> dict[str, Any]:
    """The account's rules, by rule id; ``kind`` = tag, segment or workflow to filter."""
    if kind is not None and kind not in KINDS:
        reason = f"must be one of {', '.join(KINDS)}"
        raise HTTPException(400, {"error": "invalid_query", "field": "kind", "reason": reason})
    await gateway.rules.sync()
    return {"rules": [rule_view(e) for e in gateway.rules.entries(account, kind)]}


@router.get("/rules/{rule_id}")
async def get_rule(gateway: GatewayDep, account: AccountDep, rule_id: str) -> dict[str, Any]:
    await gateway.rules.sync()
    try:
        return rule_view(gateway.rules.entry(account, rule_id))
    except LookupError as exc:
        raise _not_found(exc) from None


@router.put(
    "/rules/{rule_id}",
    openapi_extra=RULE_BODY,
    responses={200: {"description": "Replaced."}, 201: {"description": "Created."}},
)
async def put_rule(
    gateway: GatewayDep, account: AccountDep, rule_id: str, body: BodyDep
) -> JSONResponse:
    """Create (201) or replace (200) a rule. It applies to events received after the answer;
    a segment's members are evaluated again with the new definition. The answer is the
    version stored (concurrent writes get distinct versions, in the order they apply); 409
    when creating it would give the account more than 1,000 rules."""
    if body.error is not None:
        return _invalid([body.error.model_dump()])
    try:
        entry, created = await gateway.rules.put(account, rule_id, body.data)
    except RuleRejected as exc:
        return _invalid(exc.problems)
    except RuleConflict as exc:
        raise _conflict(exc, rule_id) from None
    return JSONResponse(status_code=201 if created else 200, content=rule_view(entry))


@router.post("/rules", status_code=201, openapi_extra=RULE_BODY)
async def create_rule(gateway: GatewayDep, account: AccountDep, body: BodyDep) -> JSONResponse:
    """Create a rule named by ``rule_id`` in the body (409 when it exists, whichever gateway
    created it: PUT replaces; 409 too past 1,000 rules)."""
    if body.error is not None:
        return _invalid([body.error.model_dump()])
    rule_id = body.data.get("rule_id") if isinstance(body.data, dict) else None
    if not isinstance(rule_id, str) or not rule_id:
        return _invalid([{"field": "rule_id", "reason": f"is required ({RULE_ID_PATTERN})"}])
    try:
        entry = await gateway.rules.create(account, rule_id, body.data)
    except RuleRejected as exc:
        return _invalid(exc.problems)
    except RuleConflict as exc:
        raise _conflict(exc, rule_id) from None
    return JSONResponse(status_code=201, content=rule_view(entry))


@router.delete("/rules/{rule_id}")
async def delete_rule(gateway: GatewayDep, account: AccountDep, rule_id: str) -> dict[str, Any]:
    """Delete a rule: from the events received after the answer on, it does nothing; a
    deleted segment's members exit it (cause ``definition``)."""
    try:
        entry = await gateway.rules.delete(account, rule_id)
    except LookupError as exc:
        raise _not_found(exc) from None
    return {"rule_id": rule_id, "deleted": True, "version": entry["version"]}


@router.get("/segments")
def list_segments(gateway: GatewayDep, account: AccountDep) -> dict[str, Any]:
    """The account's segments with their current number of members."""
    sizes = gateway.require_reads().segment_sizes(account)
    segments = gateway.rules.entries(account, "segment")
    return {"segments": [{**rule_view(e), "members": sizes.get(e["rule_id"], 0)} for e in segments]}


@router.get("/segments/{segment_id}/members")
def segment_members(
    gateway: GatewayDep,
    account: AccountDep,
    segment_id: str,
    count: int = Query(default=100, ge=1, le=10000),
    offset: int = Query(default=0, ge=0),
) -> dict[str, Any]:
    """The segment's current members, most recent entries first."""
    members, total = gateway.require_reads().segment_members(account, segment_id, count, offset)
    if total == 0:
        try:
            gateway.rules.entry(account, segment_id)
        except LookupError as exc:
            raise _not_found(exc) from None
    return {"segment_id": segment_id, "members": members, "total_items": total}
