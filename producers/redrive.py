"""``eventline redrive``: re-drive many failed events through the gateway, once each.

The failed events are listed first (``GET /v1/incoming?status=failed[&since=]``, every page),
then each is re-driven (``POST /v1/events/{id}/redrive``) with a few requests in flight. A
re-driven event leaves the failed list once its new attempt is recorded, so running the command
again goes on with what is left; an event the gateway will not re-drive (no longer failed,
outside a bound as stored) is counted with the gateway's reason, never retried blindly.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from eventline.producers.patient import GatewayUnavailable, request_patiently

PAGE = 1000
RETRIES = 6


class RedriveStopped(Exception):
    """The gateway refused the re-drive as a whole (a wrong key, a wrong URL, gone)."""


@dataclass
class Redriven:
    """What became of the failed events."""

    redriven: int = 0
    refused: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)


class Redriver:
    """Lists an account's failed events and re-drives each through the gateway at ``url``."""

    def __init__(
        self, url: str, key: str | None, *, account: str | None = None, in_flight: int = 8,
        timeout_s: float = 30.0, first_pause_s: float = 0.5,
    ) -> None:  # fmt: skip
        self.base = url.rstrip("/")
        self.headers = {"authorization": f"Bearer {key}"} if key else {}
        if account:  # open access (loopback, no keys): the account is named, not keyed
            self.headers["x-eventline-account"] = account
        self.in_flight, self.timeout_s, self.first_pause_s = in_flight, timeout_s, first_pause_s
        self.outcome = Redriven()

    async def failed(self, since: datetime | None) -> list[str]:
        """Every failed event's id, oldest receipt first, each once."""
        params: dict[str, str | int] = {"status": "failed", "count": PAGE}
        if since is not None:
            params["since"] = since.isoformat()
        ids: dict[str, None] = {}
        async with self._client() as client:
            offset = 0
            while True:
                page = await self._get(client, "/v1/incoming", {**params, "offset": offset})
                rows = page.get("incoming") or []
                ids.update((row["event_id"], None) for row in rows)
                offset += len(rows)
                if len(rows) < PAGE or offset >= int(page.get("total_items", 0)):
                    break
        return list(reversed(ids))  # the list is newest first

    async def redrive(self, event_ids: list[str], done: Callable[[int], None]) -> Redriven:
        """Re-drive each event; ``done(1)`` after each answer."""
        queue: asyncio.Queue[str] = asyncio.Queue()
        for event_id in event_ids:
            queue.put_nowait(event_id)
        async with self._client() as client:

            async def work() -> None:
                while not queue.empty():
                    event_id = queue.get_nowait()
                    await self._one(client, event_id)
                    done(1)

            await asyncio.gather(*(work() for _ in range(self.in_flight)))
        return self.outcome

    async def _one(self, client: httpx.AsyncClient, event_id: str) -> None:
        answer = await self._send(client, "POST", f"/v1/events/{event_id}/redrive", None)
        if answer.status_code == 202:
            self.outcome.redriven += 1
            return
        if answer.status_code == 401:
            raise RedriveStopped("the gateway refused the key (401): pass the account's key")
        reason = _reason(answer)
        self.outcome.refused += 1
        self.outcome.reasons[reason] += 1
        examples = self.outcome.examples.setdefault(reason, [])
        if len(examples) < 3:
            examples.append(event_id)

    async def _get(
        self, client: httpx.AsyncClient, path: str, params: dict[str, str | int]
    ) -> dict[str, Any]:
        answer = await self._send(client, "GET", path, params)
        if answer.status_code != 200:
            raise RedriveStopped(
                f"listing failed events: HTTP {answer.status_code} {_reason(answer)}"
            )
        body = answer.json()
        return body if isinstance(body, dict) else {}

    async def _send(
        self, client: httpx.AsyncClient, method: str, path: str,
        params: dict[str, str | int] | None,
    ) -> httpx.Response:  # fmt: skip
        try:
            return await request_patiently(
                client, method, self.base + path, attempts=RETRIES,
                first_pause_s=self.first_pause_s, params=params,
            )  # fmt: skip
        except GatewayUnavailable as exc:
            raise RedriveStopped(f"the gateway at {self.base} did not answer: {exc}") from None

    def _client(self) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=self.in_flight)
        return httpx.AsyncClient(timeout=self.timeout_s, limits=limits, headers=self.headers)


def _reason(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return f"HTTP {answer.status_code}"
    detail = body.get("detail") if isinstance(body, dict) else None
    text = detail if isinstance(detail, str) else str(body)[:200]
    # One reason per kind of refusal, not per event: the event's id is in the examples.
    return f"HTTP {answer.status_code}: " + _without_id(text)


def _without_id(text: str) -> str:
    start, end = text.find("'"), text.find("'", text.find("'") + 1)
    return text if start < 0 or end < 0 else text[:start] + "…" + text[end + 1 :]
