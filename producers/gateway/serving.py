"""How the gateway is served: uvicorn's options from the settings."""

from __future__ import annotations

from typing import Any

from eventline.settings import Settings

# Headers larger than this (bytes) are refused by uvicorn's parser before the app is called.
MAX_HEADER_BYTES = 64 * 1024


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of ``uvicorn.Config``/``uvicorn.run`` for the gateway: where it
    listens and how many connections it serves at once (503 past that)."""
    return {
        "host": settings.gateway_host,
        "port": settings.gateway_port,
        "limit_concurrency": settings.gateway_max_connections,
        "timeout_keep_alive": 5,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
    }
