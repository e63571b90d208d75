"""Bounds on requests, applied before any route reads a body: its size per route (413,
refused before reading when Content-Length says so, else as soon as the bytes received pass
it) and the time to receive it (408). A body within both is handed to the app whole, gzip
inflated (``eventline.producers.gateway.encoding``: the size bound applies to the inflated body; a
corrupt one is 400, an unknown Content-Encoding 415)."""

from __future__ import annotations

import asyncio

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eventline.core.settings import Settings
from eventline.producers.dialects import segment
from eventline.producers.gateway import encoding
from eventline.producers.gateway.answers import refusal
from eventline.producers.problems import Problem

SEGMENT_CALL_PATHS = frozenset(f"/v1/{kind}" for kind in segment.TYPES)
BULK_PATHS = frozenset({"/v1/events", "/api/v1/client/events/bulk"})


def body_limit(settings: Settings, path: str) -> int:
    """The largest body (bytes) a path accepts (docs/architecture.md, "Limits and bad input")."""
    if path in SEGMENT_CALL_PATHS:
        return segment.MAX_CALL_BYTES
    if path == "/v1/batch":
        return segment.MAX_BATCH_BYTES
    if path in BULK_PATHS:
        return settings.bulk_body_max_bytes
    if path == "/v1/rules" or path.startswith("/v1/rules/"):
        return settings.rules_body_max_bytes
    return settings.body_max_bytes


class RequestLimits:
    """ASGI middleware: reads each request body within its size and time bounds, or refuses
    it in the shape of the path's API (and the server closes the connection)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, limit = scope["path"], body_limit(self.settings, scope["path"])
        too_large = Problem(field="body", reason=f"is larger than {limit} bytes", status=413)
        headers = Headers(scope=scope)
        coding = headers.get("content-encoding")
        try:
            coded = bool(encoding.codings(coding))
        except encoding.Refused as exc:
            await refusal(path, exc.status, [exc.problem])(scope, receive, send)
            return
        # a compressed body may be a little larger than what it inflates to
        read_limit = encoding.compressed_limit(limit) if coded else limit
        declared = _content_length(headers)
        if declared is not None and declared > read_limit:
            await refusal(path, 413, [too_large])(scope, receive, send)
            return
        try:
            body = await asyncio.wait_for(_read(receive, read_limit), self.settings.body_timeout_s)
        except TimeoutError:
            late = f"was not received within {self.settings.body_timeout_s:g} s"
            await refusal(path, 408, [Problem(field="body", reason=late)])(scope, receive, send)
            return
        if body is _GONE:
            return  # the client left before sending its body: no one to answer
        if body is None:
            await refusal(path, 413, [too_large])(scope, receive, send)
            return
        if coded:
            try:
                body = encoding.decode(body, coding, limit)
            except encoding.Refused as exc:
                await refusal(path, exc.status, [exc.problem])(scope, receive, send)
                return
            scope = _decoded_scope(scope, len(body))
        await self.app(scope, _replay(body, receive), send)


_GONE = b"\x00gone"  # a marker, never compared by value


async def _read(receive: Receive, limit: int) -> bytes | None:
    """The whole body, None as soon as it is larger than ``limit``, ``_GONE`` when the client
    disconnected first."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return _GONE
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the body read already, then whatever the server says next."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _decoded_scope(scope: Scope, length: int) -> Scope:
    """The request as the app sees it once its body is inflated: no Content-Encoding, the
    inflated Content-Length."""
    dropped = (b"content-encoding", b"content-length")
    headers = [(k, v) for k, v in scope["headers"] if k.lower() not in dropped]
    headers.append((b"content-length", str(length).encode()))
    return {**scope, "headers": headers}


def _content_length(headers: Headers) -> int | None:
    value = headers.get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
