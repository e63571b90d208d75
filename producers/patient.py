"""Requests to the gateway that wait out what heals: a lost connection or a 5xx is asked again
after a pause (doubling, at most 10 s), so a long import or re-drive rides over a gateway
restart. Used by ``eventline import`` and ``eventline redrive``."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


class GatewayUnavailable(Exception):
    """The gateway did not answer, or answered 5xx, every time it was asked."""


async def request_patiently(
    client: httpx.AsyncClient, method: str, url: str, *, attempts: int, first_pause_s: float,
    **kwargs: Any,
) -> httpx.Response:  # fmt: skip
    """The gateway's answer below 500; GatewayUnavailable with the last problem after
    ``attempts`` tries."""
    pause = first_pause_s
    problem = ""
    for attempt in range(attempts):
        try:
            answer = await client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        else:
            if answer.status_code < 500:
                return answer
            problem = f"HTTP {answer.status_code}"
        if attempt < attempts - 1:
            await asyncio.sleep(pause)
            pause = min(pause * 2, 10.0)
    raise GatewayUnavailable(problem)
