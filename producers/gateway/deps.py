"""Gateway dependencies: the Gateway service object and request-body decoding."""

from __future__ import annotations

import base64
import collections
import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Request
from prometheus_client import Counter, Histogram

from eventline.core.kafka import KafkaWriter
from eventline.core.settings import Settings
from eventline.core.topics import Topics
from eventline.producers.gateway.bodies import Body, BodyDep, read_body
from eventline.producers.members import ENTRY, MemberIndex, is_member_key
from eventline.producers.validation import ACCOUNT_PATTERN, Problem
from eventline.schemas.accounts.registry import AuthError
from eventline.schemas.accounts.service import Accounts
from eventline.schemas.codec import codec
from eventline.schemas.model import now, routing_key
from eventline.schemas.reads import Reads
from eventline.schemas.rules.catalog import RuleCatalog

ACCEPTED = Counter("eventline_gateway_accepted_total", "Records accepted", ["kind", "source"])
REJECTED = Counter("eventline_gateway_rejected_total", "Records rejected", ["field", "reason"])
PRODUCE_SECONDS = Histogram(
    "eventline_gateway_produce_seconds",
    "Time from produce to Kafka's ack (acks=all)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
RECENT_KEYS = 100_000
PROCESS_ERROR_KEPT = 4000  # characters of a rejection's reasons kept with its status

__all__ = ["Body", "BodyDep", "read_body"]  # re-exported: every route module reads bodies here


class DialectAnswer(Exception):
    """An answer in a vendor dialect's own shape (status and body), raised from anywhere in a
    dialect's handlers; ``eventline.producers.gateway.app`` turns it into the response."""

    def __init__(self, status: int, content: dict[str, Any]) -> None:
        super().__init__(str(content))
        self.status = status
        self.content = content


@dataclass
class Gateway:
    """What request handlers need: settings, topic names, the Kafka writer, ClickHouse reads."""

    settings: Settings
    topics: Topics
    writer: KafkaWriter
    reads: Reads | None
    accounts: Accounts
    rules: RuleCatalog
    members: MemberIndex
    # (account, event_id) of recently accepted keyed events: lets the HTTP answer say
    # "duplicate" at once for a quick resend; the worker's guarantee does not depend on it.
    recent: OrderedDict[tuple[str, str], str] = field(default_factory=OrderedDict)

    def seen_recently(self, account: str, event_id: str) -> bool:
        return (account, event_id) in self.recent

    def remember(self, record: dict[str, Any]) -> None:
        if record.get("idempotency_key"):
            self.recent[(record["account_id"], record["event_id"])] = record["receipt_id"]
            while len(self.recent) > RECENT_KEYS:
                self.recent.popitem(last=False)

    async def publish(
        self,
        accepted: list[dict[str, Any]],
        rejected: Sequence[tuple[dict[str, Any], list[Problem], str | None]] = (),
        claims: Sequence[tuple[str, dict[str, Any]]] = (),
    ) -> None:
        """Write accepted records, identity claims (key, record) and rejection statuses;
        return once Kafka acknowledged them all. A subscriber-hash claim then goes to the
        member index too, once the claim itself is acknowledged (producers/members.py)."""
        out: list[tuple[str, str, bytes]] = [
            (self.topics.incoming, key, codec().encode("IncomingRecord", claim))
            for key, claim in claims
        ]
        for record in accepted:
            out.append(
                (
                    self.topics.incoming,
                    routing_key(record),
                    codec().encode("IncomingRecord", record),
                )
            )
        for record, problems, raw in rejected:
            status = {
                "record": record,
                "status": "REJECTED",
                "raw": raw,
                "updated_at": now(),
                "process_error": "; ".join(f"{p.field}: {p.reason}" for p in problems)[
                    :PROCESS_ERROR_KEPT
                ],
            }
            out.append(
                (
                    self.topics.event_status,
                    record["event_id"],
                    codec().encode("EventStatus", status),
                )
            )
        if not out:
            return
        started = time.perf_counter()
        await self.writer.produce_many(out, self.settings.produce_timeout_s)
        members = [(self.topics.members, key, ENTRY) for key, _ in claims if is_member_key(key)]
        if members:
            await self.writer.produce_many(members, self.settings.produce_timeout_s)
        PRODUCE_SECONDS.observe(time.perf_counter() - started)
        # One increment per label set, not per record: with several gateway processes each
        # increment is a write to a shared file.
        counts = collections.Counter((r["kind"].lower(), r["source"]) for r in accepted)
        for labels, count in counts.items():
            ACCEPTED.labels(*labels).inc(count)
        for record in accepted:
            self.remember(record)
        for _record, problems, _raw in rejected:
            for p in problems:
                REJECTED.labels(p.field, p.reason[:60]).inc()

    def require_reads(self) -> Reads:
        if self.reads is None:
            raise HTTPException(
                503,
                "this gateway process has no ClickHouse connection: run it with "
                "'eventline up' (embedded) or set EVENTLINE_CLICKHOUSE_URL",
            )
        return self.reads


async def get_gateway(request: Request) -> Gateway:
    # Dependencies that do no I/O are async: FastAPI runs a plain ``def`` one in a thread
    # pool, a thread hop per request (a tenth of a single post's cost).
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]

ACCOUNT_ID = re.compile(ACCOUNT_PATTERN)


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    """The API key of a request: ``Authorization: Bearer <key>``, ``X-Api-Key: <key>``, or
    HTTP Basic with the key as password (Mailchimp's ``anystring:<key>``)."""
    if x_api_key:
        return x_api_key.strip()
    scheme, _, value = (authorization or "").strip().partition(" ")
    if scheme.lower() in ("bearer", "apikey"):
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return value  # not a key: refused as unknown
        user, _, password = decoded.partition(":")
        return password or user  # Segment sends its write key as the user name
    return None


def resolve_account(gateway: Gateway, key: str | None, named: str | None) -> str:
    """The account a request acts for: its key's, else (open access) the one it names, else
    the default account. Raises AuthError; each API answers it in its own shape."""
    if key is not None:
        account = gateway.accounts.authenticate(key)
        if named not in (None, account):
            reason = f"this API key belongs to account {account!r}"
            raise AuthError(403, reason, field="X-Eventline-Account")
        return account
    if not gateway.settings.open_access:
        raise AuthError(401, "an API key is required (Authorization: Bearer)")
    account = named or gateway.settings.default_account
    if not ACCOUNT_ID.match(account):
        raise AuthError(400, f"must match {ACCOUNT_PATTERN}", field="X-Eventline-Account")
    return account


AUTH_ERRORS = {400: "invalid_account", 401: "unauthorized", 403: "forbidden"}


async def get_account(
    gateway: GatewayDep,
    authorization: Annotated[
        str | None, Header(description="`Bearer <API key>`: the key's account.")
    ] = None,
    x_api_key: Annotated[str | None, Header(description="The API key, instead of Bearer.")] = None,
    x_eventline_account: Annotated[
        str | None,
        Header(description="Account (tenant) of a request without key, when open access is on."),
    ] = None,
) -> str:
    """The account a request acts for: its API key's, else (open access) the named one."""
    try:
        return resolve_account(
            gateway, presented_key(authorization, x_api_key), x_eventline_account
        )
    except AuthError as exc:
        raise auth_refusal(exc) from None


def auth_refusal(exc: AuthError) -> HTTPException:
    """The native API's answer to a request its key does not admit."""
    detail = {"error": AUTH_ERRORS[exc.status], "reason": exc.reason}
    if exc.field:
        detail["field"] = exc.field
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return HTTPException(exc.status, detail, headers=headers)


AccountDep = Annotated[str, Depends(get_account)]
