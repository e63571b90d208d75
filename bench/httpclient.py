"""A lean keep-alive HTTP/1.1 client for the load generator: asyncio plus httptools' parser.

Why not httpx or aiohttp: on 2 shared cores every microsecond the generator spends is taken
from the server it measures. httpx spends ~0.5 ms of Python per request, aiohttp ~0.15 ms;
this one writes prepared bytes and lets httptools (uvicorn's C parser) read the answer, a
few tens of microseconds. It speaks only what the benchmark needs: POST with a body, answers
with Content-Length or chunked bodies, one request in flight per connection.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import httptools


class ConnectionClosed(ConnectionError):
    """The server closed the connection before answering."""


class _Answer(asyncio.Protocol):
    """One connection: feeds what arrives to the parser, completes the pending request."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.pending: asyncio.Future[tuple[int, bytes]] | None = None
        self.body: list[bytes] = []
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment] # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)
            if self.transport is not None:
                self.transport.close()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        body, self.body = b"".join(self.body), []
        if self.pending is not None and not self.pending.done():
            self.pending.set_result((status, body))
        if not self.parser.should_keep_alive() and self.transport is not None:
            self.closed = True
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionClosed("connection closed before the answer"))

    def _fail(self, exc: BaseException) -> None:
        if self.pending is not None and not self.pending.done():
            self.pending.set_exception(exc)


class HttpConnection:
    """One keep-alive connection to ``base_url``; reconnects when the server closed it."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._head = (
            f"Host: {self.host}:{self.port}\r\nContent-Type: application/json\r\n{extra}"
        ).encode()
        self._conn: _Answer | None = None

    async def _connected(self) -> _Answer:
        if self._conn is None or self._conn.closed:
            loop = asyncio.get_running_loop()
            _, protocol = await loop.create_connection(_Answer, self.host, self.port)
            self._conn = protocol
        return self._conn

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST ``body`` (JSON) to ``path``; the status and the body of the answer."""
        conn = await self._connected()
        assert conn.transport is not None
        conn.pending = asyncio.get_running_loop().create_future()
        conn.transport.write(
            b"POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s"
            % (path.encode(), self._head, len(body), body)
        )
        return await conn.pending

    def close(self) -> None:
        if self._conn is not None and self._conn.transport is not None:
            self._conn.transport.close()
