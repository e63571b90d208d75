"""How the gateway is served: uvicorn's options from the settings."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from eventline.core.errors import ConfigurationError
from eventline.core.settings import Settings

log = logging.getLogger(__name__)

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
        "access_log": settings.gateway_access_log,
    }


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def check_exposure(settings: Settings) -> None:
    """Refuse open access on an address other hosts reach, unless explicitly allowed.

    Open access means no key is needed, any account is chosen by a header, and (with no admin
    token) keys are created for any account: fine on loopback, a hole anywhere else."""
    if not settings.open_access or is_loopback(settings.gateway_host):
        return
    if not settings.open_access_beyond_loopback:
        raise ConfigurationError(
            f"refusing to serve open access on {settings.gateway_host}: anyone who reaches it "
            "could act for any account. Set EVENTLINE_OPEN_ACCESS=false (API keys required), "
            "or EVENTLINE_OPEN_ACCESS_BEYOND_LOOPBACK=true to allow it anyway"
        )


def announce_exposure(settings: Settings) -> None:
    """One clear line at start while open access is on."""
    if not settings.open_access:
        return
    admin = (
        "admin API from loopback clients only"
        if settings.admin_token is None
        else "admin token set"
    )
    log.warning(
        "OPEN ACCESS on %s:%s: requests without an API key act for any account they name "
        "(EVENTLINE_OPEN_ACCESS=true; %s). Set EVENTLINE_OPEN_ACCESS=false in production.",
        settings.gateway_host,
        settings.gateway_port,
        admin,
    )
