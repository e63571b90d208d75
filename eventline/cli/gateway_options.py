"""Options of the commands that talk to a running gateway (import, redrive)."""

from __future__ import annotations

from typing import Annotated

import typer

from eventline.core.settings import Settings

Key = Annotated[
    str | None,
    typer.Option(envvar="EVENTLINE_API_KEY", help="API key of the events' account."),
]
Account = Annotated[
    str | None,
    typer.Option(help="The account, where the gateway runs without keys (open access)."),
]
Url = Annotated[str | None, typer.Option(help="The gateway (default: this home's, from settings).")]
InFlight = Annotated[int, typer.Option(min=1, max=64, help="Requests at once.")]


def gateway_url(url: str | None, settings: Settings) -> str:
    """The gateway the command talks to: as given, else this home's."""
    return url or f"http://{settings.gateway_host}:{settings.gateway_port}"
