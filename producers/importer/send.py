"""Lines to the gateway's bulk route, several requests in flight, answered in order.

The gateway validates each event as it would a live one (same answers, same rejected
records), so an import is exactly what the same events posted in bulk would be. A request
the gateway could not take (5xx, connection lost) is sent again after a pause; the keys of
its lines make that safe. A batch too large in bytes (413 for the whole request) is split.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import httpx
import orjson

from eventline.producers.importer.lines import Line
from eventline.producers.importer.routes import Native, Route
from eventline.producers.patient import GatewayUnavailable, request_patiently

RETRIES = 8
Sent = tuple["asyncio.Task[None]", int]  # a batch in flight and its count of lines
EXAMPLES = 5  # example line numbers kept per reason


class ImportStopped(Exception):
    """The gateway refused the import as a whole (a wrong key, a wrong URL)."""


@dataclass
class Tally:
    """What became of the lines so far."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[int]] = field(default_factory=dict)
    rejected_lines: list[dict[str, Any]] = field(default_factory=list)  # not yet written out

    def refuse(self, number: int, problems: list[tuple[str, str]]) -> None:
        """Line ``number`` was refused for ``problems`` ((field, reason) pairs)."""
        self.rejected += 1
        for field_name, reason in problems:
            why = f"{field_name}: {reason}" if field_name else reason
            self.reasons[why] += 1
            examples = self.examples.setdefault(why, [])
            if len(examples) < EXAMPLES:
                examples.append(number)
        errors = [{"field": f, "reason": r} for f, r in problems]
        self.rejected_lines.append({"line": number, "errors": errors})


class Sender:
    """Posts batches of lines to the gateway at ``url`` (``route``: native events by default)
    with ``key``; ``answered(lines)`` is called in file order as leading lines are answered
    for (the resumable position)."""

    def __init__(
        self, url: str, key: str | None, *, account: str | None = None, batch: int = 500,
        in_flight: int = 4, timeout_s: float = 60.0, first_pause_s: float = 0.5,
        route: Route | None = None,
    ) -> None:  # fmt: skip
        self.route = route or Native()
        headers = {"content-type": "application/json", **self.route.headers}
        if key:
            headers["authorization"] = f"Bearer {key}"
        if account:  # open access (loopback, no keys): the account is named, not keyed
            headers["x-eventline-account"] = account
        self.url = url.rstrip("/") + self.route.path
        self.headers = headers
        batch = min(batch, self.route.largest_batch)
        self.batch, self.in_flight, self.timeout_s = batch, in_flight, timeout_s
        self.first_pause_s = first_pause_s
        self.tally = Tally()

    async def run(self, lines: Iterable[Line], answered: Callable[[int], None]) -> Tally:
        """Send every line; return the tally once all are answered for."""
        limits = httpx.Limits(max_connections=self.in_flight)
        async with httpx.AsyncClient(timeout=self.timeout_s, limits=limits) as client:
            window: asyncio.Queue[Sent | None] = asyncio.Queue(self.in_flight)
            settle = asyncio.create_task(self._settle(window, answered))
            try:
                for chunk in _chunks(lines, self.batch):
                    task = asyncio.create_task(self._batch(client, chunk))
                    put = asyncio.ensure_future(window.put((task, len(chunk))))
                    # waits while in_flight batches are out, or until settling failed
                    await asyncio.wait({put, settle}, return_when=asyncio.FIRST_COMPLETED)
                    if settle.done():
                        put.cancel()
                        task.cancel()
                        break  # it failed: its exception is raised below
            finally:
                if not settle.done():
                    await window.put(None)
                await settle
        return self.tally

    async def _settle(
        self, window: asyncio.Queue[Sent | None], answered: Callable[[int], None]
    ) -> None:
        """Await batches in the order they were sent, so the position only moves forward over
        lines that are all answered for."""
        try:
            while (sent := await window.get()) is not None:
                task, count = sent
                await task
                answered(count)
        except BaseException:
            while not window.empty():  # what is left will not be answered for: stop it
                left = window.get_nowait()
                if left is not None:
                    left[0].cancel()
            raise

    async def _batch(self, client: httpx.AsyncClient, chunk: list[Line]) -> None:
        for line in chunk:
            if line.event is None:
                self.tally.refuse(line.number, [("", line.error or "cannot be read")])
        sendable = [line for line in chunk if line.event is not None]
        if sendable:
            await self._post(client, sendable)

    async def _post(self, client: httpx.AsyncClient, lines: list[Line]) -> None:
        answer = await self._answer(client, self.route.body([line.event or {} for line in lines]))
        content = _json(answer)
        duplicates = self.route.duplicates_if_all_accepted(answer.status_code, content, len(lines))
        if duplicates is not None:
            self.tally.accepted += len(lines) - duplicates
            self.tally.duplicates += duplicates
            return
        outcomes = self.route.outcomes(answer.status_code, content, len(lines))
        if outcomes is None and answer.status_code == 413 and len(lines) > 1:
            half = len(lines) // 2  # too large as a whole: each half may pass
            await self._post(client, lines[:half])
            await self._post(client, lines[half:])
            return
        if outcomes is None:
            raise ImportStopped(_refusal(answer))
        for line, (status, problems) in zip(lines, outcomes, strict=True):
            self._count(line, status, problems)

    async def _answer(self, client: httpx.AsyncClient, body: bytes) -> httpx.Response:
        try:
            return await request_patiently(
                client, "POST", self.url, attempts=RETRIES, first_pause_s=self.first_pause_s,
                content=body, headers=self.headers,
            )  # fmt: skip
        except GatewayUnavailable as exc:
            raise ImportStopped(f"the gateway at {self.url} did not take a batch: {exc}") from None

    def _count(self, line: Line, status: str, problems: list[tuple[str, str]]) -> None:
        if status == "received":
            self.tally.accepted += 1
        elif status == "duplicate":
            self.tally.duplicates += 1
        else:
            self.tally.refuse(line.number, problems or [("", status)])


def _chunks(lines: Iterable[Line], size: int) -> Iterator[list[Line]]:
    it = iter(lines)
    while chunk := list(islice(it, size)):
        yield chunk


def _json(answer: httpx.Response) -> Any:
    try:
        return orjson.loads(answer.content)
    except orjson.JSONDecodeError:
        return None


def _refusal(answer: httpx.Response) -> str:
    text = answer.text[:300]
    if answer.status_code == 401:
        return (
            f"the gateway refused the key (401): pass an API key of the account with --key ({text})"
        )
    if answer.status_code == 404:
        return f"no eventline gateway at {answer.request.url} (404): check --url"
    return f"the gateway answered {answer.status_code}: {text}"
