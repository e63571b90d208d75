"""Anchor: a bare Starlette JSON POST answering 202 (no Kafka), served by uvicorn."""

from __future__ import annotations

import json
import uuid

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def accept(request: Request) -> JSONResponse:
    body = json.loads(await request.body())
    count = len(body) if isinstance(body, list) else 1
    return JSONResponse({"event_id": str(uuid.uuid4()), "accepted": count}, status_code=202)


def serve(port: int) -> None:
    """Serve until terminated (run in a process of its own)."""
    app = Starlette(routes=[Route("/v1/events", accept, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
