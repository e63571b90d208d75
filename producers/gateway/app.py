"""The HTTP gateway: FastAPI app, clients created in the lifespan hook and kept on app.state."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from eventline.core.errors import InvalidEvent, TransientError
from eventline.core.kafka import KafkaWriter
from eventline.core.settings import Settings
from eventline.core.topics import Topics
from eventline.core.version import VERSION
from eventline.producers.gateway import accounts as accounts_api
from eventline.producers.gateway import (
    activecampaign,
    answers,
    contacts,
    emma,
    events,
    health,
    mailchimp,
    mailerpath,
    rules,
    segment,
    status,
)
from eventline.producers.gateway.deps import DialectAnswer, Gateway
from eventline.producers.gateway.fast_path import EventsFastPath
from eventline.producers.gateway.limits import RequestLimits
from eventline.producers.gateway.serving import announce_exposure, check_exposure
from eventline.producers.members import MemberIndex
from eventline.schemas.accounts.service import Accounts
from eventline.schemas.clock_topic import follow_clock
from eventline.schemas.reads import Reads
from eventline.schemas.rules.catalog import RuleCatalog

DESCRIPTION = """
eventline accepts events and contact registrations, writes them to Kafka, and answers once Kafka
has acknowledged the write. Every request gets an id whose status you can look up.

**Native API** (`/v1/events`, `/v1/contacts`): the reference; see each operation's example.

**Vendor dialects**: change the base URL and the key, keep your client.
- Mailchimp: `POST /3.0/lists/{list_id}/members/{md5 of email}/events` with
  `--user "any:$KEY"` and `{"name": "registered_referral", "properties": {"code": "GAMER42"}}`
  (404 for an unknown member: add it with `POST /3.0/lists/{list_id}/members` or
  `PUT /3.0/lists/{list_id}/members/{md5}`, then retry)
- ActiveCampaign: `POST /event` form `actid=<account number>`, `key=$KEY`,
  `event=file download request`, `eventdata=…`, `visit={"email":"ada@example.com"}`;
  `/api/3/eventTracking`, `/api/3/eventTrackingEvents`, `/api/3/contacts/{id}/trackingLogs`,
  `/api/3/activities?contact={id}` with header `Api-Token: $KEY`
- Emma: `POST /{account number}/events/members` with `--user "public:$KEY"` and
  `{"events": [{"email": "ada@example.com", "event_type": "visited_website"}]}`
- MailerPath: `POST /api/v1/client/events` with `X-Api-Key: $KEY` and
  `{"event_type": "purchase", "email": "ada@example.com", "value": 12.5}`
- Segment: `POST /v1/track` with `--user "$KEY:"` and
  `{"userId": "u-1", "event": "Order Completed", "messageId": "m-1"}`

**Automation**: tag, segment and workflow rules (`/v1/rules`), segment members
(`/v1/segments/{id}/members`); the outcome is published on the tags, segments and workflows
topics (docs/automation.md).

Keys: `POST /v1/accounts`, then `POST /v1/accounts/{id}/keys` (admin), or
`eventline accounts create` / `eventline keys create`.
"""


def create_app(settings: Settings, reads: Reads | None = None) -> FastAPI:
    """The gateway app. ``reads`` serves the read endpoints (status, timelines) when given.
    Raises ConfigurationError for open access on a non-loopback host (unless allowed)."""
    check_exposure(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        announce_exposure(settings)
        clock = await asyncio.to_thread(follow_clock, settings)  # received_at is stamped here
        writer = KafkaWriter(settings.bootstrap(), timeout_s=settings.produce_timeout_s)
        accounts = Accounts(settings, writer)
        catalog = RuleCatalog(settings, writer)
        await asyncio.gather(asyncio.to_thread(accounts.start), asyncio.to_thread(catalog.start))
        members = MemberIndex(settings)
        members.start()  # in the background: only Mailchimp's 404 waits for it
        topics = Topics(settings.topic_prefix)
        app.state.gateway = Gateway(settings, topics, writer, reads, accounts, catalog, members)
        try:
            yield
        finally:
            members.stop()
            catalog.stop()
            accounts.stop()
            writer.close()
            if clock is not None:
                clock.stop()

    app = FastAPI(title="eventline", version=VERSION, description=DESCRIPTION, lifespan=lifespan)
    app.add_middleware(EventsFastPath)  # inside RequestLimits: it sees bounded bodies only
    app.add_middleware(RequestLimits, settings=settings)
    app.include_router(events.router)
    app.include_router(contacts.router)
    app.include_router(status.router)
    app.include_router(rules.router)
    app.include_router(accounts_api.router)
    app.include_router(mailchimp.router)
    app.include_router(mailerpath.router)
    app.include_router(activecampaign.router)
    app.include_router(segment.router)
    app.include_router(emma.router)
    app.include_router(health.router)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # The native API keeps FastAPI's 422; a dialect answers in its own shape (400, or
        # 422 as ActiveCampaign's v3 API does).
        api = answers.api_of(request.url.path)
        if api == "native":
            return await request_validation_exception_handler(request, exc)
        status = 422 if api == "activecampaign_v3" else 400
        return answers.refusal(request.url.path, status, answers.validation_problems(exc))

    @app.exception_handler(DialectAnswer)
    async def dialect_answer(_request: Request, exc: DialectAnswer) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content=exc.content)

    @app.exception_handler(InvalidEvent)
    async def refused_for_good(request: Request, exc: InvalidEvent) -> Response:
        return answers.too_large_for_kafka(request.url.path, exc)

    @app.exception_handler(TransientError)
    async def unavailable(_request: Request, exc: TransientError) -> JSONResponse:
        return answers.unavailable(exc)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)

    return app


def _registry() -> CollectorRegistry:
    """This process's metrics; those of every gateway process when they share a port
    (prometheus_client's multiprocess mode: ``PROMETHEUS_MULTIPROC_DIR``, set by
    ``GatewayProcesses``), whichever of them answers the scrape."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry
