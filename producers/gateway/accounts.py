"""Admin API: accounts (tenants) and their API keys. Keys are shown once, when created."""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from pydantic import BaseModel, Field

from eventline.producers.gateway.answers import error_responses
from eventline.producers.gateway.bodies import StrictRoute
from eventline.producers.gateway.deps import GatewayDep
from eventline.producers.validation import ACCOUNT_PATTERN
from eventline.schemas.accounts.ledger import MAX_ACCOUNT_NAME
from eventline.schemas.accounts.registry import ACCOUNT, API_KEY, account_view, key_view
from eventline.schemas.accounts.service import AccountConflict

LOOPBACK = {"127.0.0.1", "::1", "localhost", "testclient"}


async def require_admin(
    request: Request,
    gateway: GatewayDep,
    authorization: Annotated[str | None, Header(description="`Bearer <admin token>`")] = None,
) -> None:
    """The admin token when one is configured; else only clients on this machine."""
    token = gateway.settings.admin_token
    if token is None:
        host = request.client.host if request.client else ""
        if host not in LOOPBACK:
            raise HTTPException(
                403,
                {
                    "error": "forbidden",
                    "reason": "the admin API answers loopback clients only while "
                    "EVENTLINE_ADMIN_TOKEN is unset",
                },
            )
        return
    presented = (authorization or "")[7:] if (authorization or "")[:7].lower() == "bearer " else ""
    if not hmac.compare_digest(presented.encode(), token.encode()):
        raise HTTPException(
            401,
            {"error": "unauthorized", "reason": "admin token required (Authorization: Bearer)"},
            headers={"WWW-Authenticate": "Bearer"},
        )


router = APIRouter(
    route_class=StrictRoute,
    responses=error_responses("native"),
    prefix="/v1/accounts",
    tags=["accounts"],
    dependencies=[Depends(require_admin)],
)


class AccountIn(BaseModel):
    account_id: str = Field(pattern=ACCOUNT_PATTERN, examples=["acme"])
    name: str = Field(default="", max_length=MAX_ACCOUNT_NAME, examples=["Acme Games"])


class KeyIn(BaseModel):
    label: str = Field(default="", max_length=200, examples=["checkout service"])
    shape: Literal["eventline", "mailchimp"] = Field(
        default="eventline",
        description="`mailchimp`: 32 hex digits, a dash, then more of the secret, for SDKs "
        "that check the key's shape (mailchimp3). Either shape works on every route.",
    )


def _not_found(exc: LookupError) -> HTTPException:
    return HTTPException(404, {"error": "not_found", "reason": str(exc.args[0])})


@router.post("", status_code=201)
async def create_account(gateway: GatewayDep, body: AccountIn) -> dict[str, Any]:
    """Create an account; its ``number`` names it where dialects use numbers (Emma, AC)."""
    try:
        return account_view(await gateway.accounts.create_account(body.account_id, body.name))
    except AccountConflict as exc:
        raise HTTPException(409, {"error": "conflict", "reason": str(exc)}) from None


@router.get("")
async def list_accounts(gateway: GatewayDep) -> dict[str, Any]:
    """Every account, by id."""
    await gateway.accounts.sync()
    return {"accounts": [account_view(a) for a in gateway.accounts.accounts()]}


@router.get("/{account_id}")
async def get_account(gateway: GatewayDep, account_id: str) -> dict[str, Any]:
    await gateway.accounts.sync()
    try:
        return account_view(gateway.accounts.account(account_id))
    except LookupError as exc:
        raise _not_found(exc) from None


@router.post("/{account_id}/keys", status_code=201)
async def create_key(
    gateway: GatewayDep, account_id: str, body: KeyIn | None = None
) -> dict[str, Any]:
    """Create an API key. The answer holds the key itself: it is shown this once."""
    try:
        entry, key = await gateway.accounts.create_key(
            account_id, body.label if body else "", body.shape if body else "eventline"
        )
    except LookupError as exc:
        raise _not_found(exc) from None
    return {**key_view(entry), "key": key}


@router.get("/{account_id}/keys")
async def list_keys(gateway: GatewayDep, account_id: str) -> dict[str, Any]:
    """The account's keys (never the keys themselves: a hint of each)."""
    await gateway.accounts.sync()
    try:
        return {"keys": [key_view(k) for k in gateway.accounts.keys_of(account_id)]}
    except LookupError as exc:
        raise _not_found(exc) from None


@router.post("/{account_id}/keys/{key_id}/{action}")
async def enable_key(
    gateway: GatewayDep, account_id: str, key_id: str, action: str
) -> dict[str, Any]:
    """``enable`` or ``disable`` a key; a disabled key is refused with 403 within moments on
    every gateway."""
    on = _action(action)
    try:
        return key_view(await gateway.accounts.set_enabled(API_KEY, account_id, key_id, on))
    except LookupError as exc:
        raise _not_found(exc) from None


@router.post("/{account_id}/{action}", responses={404: {"description": "no such account"}})
async def enable_account(gateway: GatewayDep, account_id: str, action: str) -> dict[str, Any]:
    """``enable`` or ``disable`` an account: a disabled account's keys are refused (403)."""
    on = _action(action)
    try:
        entry = await gateway.accounts.set_enabled(ACCOUNT, account_id, account_id, on)
    except LookupError as exc:
        raise _not_found(exc) from None
    return account_view(entry)


def _action(action: str) -> bool:
    if action not in ("enable", "disable"):
        raise HTTPException(404, {"error": "not_found", "reason": f"no action {action!r}"})
    return action == "enable"
