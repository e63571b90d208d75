"""``POST /v1/events`` with a JSON body, served without FastAPI's router and dependency
injection: for a single event they cost about as much as the rest of the request together.

Same answers as the FastAPI route (``eventline.producers.gateway.events``), which stays for the
OpenAPI page and serves form-data: the same key and account rules (``resolve_account``), the same
strict JSON decoding (``json_body``), the same handler (``accept_events``) and the same error
shapes (``answers``). Bodies come bounded by ``RequestLimits``, which runs first.
"""

from __future__ import annotations

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from eventline.core.errors import InvalidEvent, TransientError
from eventline.producers.gateway import answers
from eventline.producers.gateway.bodies import FORM_TYPES, json_body
from eventline.producers.gateway.deps import Gateway, auth_refusal, presented_key, resolve_account
from eventline.producers.gateway.events import accept_events
from eventline.schemas.accounts.registry import AuthError

PATH = "/v1/events"


class EventsFastPath:
    """ASGI middleware: answers ``POST /v1/events`` with a JSON body itself; passes every
    other request on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if headers.get("content-type", "").startswith(FORM_TYPES):
            await self.app(scope, receive, send)
            return
        response = await self._answer(scope["app"].state.gateway, headers, receive)
        await response(scope, receive, send)

    async def _answer(self, gateway: Gateway, headers: Headers, receive: Receive) -> Response:
        key = presented_key(headers.get("authorization"), headers.get("x-api-key"))
        try:
            account = resolve_account(gateway, key, headers.get("x-eventline-account"))
        except AuthError as exc:
            return _http_error(auth_refusal(exc))
        body = json_body(await _body(receive))
        try:
            return await accept_events(gateway, body, account, headers.get("idempotency-key"))
        except TransientError as exc:
            return answers.unavailable(exc)
        except InvalidEvent as exc:
            return answers.too_large_for_kafka(PATH, exc)


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _http_error(exc: HTTPException) -> Response:
    """As FastAPI's own handler renders an HTTPException."""
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
