"""Re-driving many failed events (eventline.producers.redrive, eventline.cli.redrive), against a
fake gateway that answers as the status routes do."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import typer

from eventline.cli.redrive import since_time
from eventline.producers import redrive
from eventline.producers.redrive import Redriver, RedriveStopped

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _gateway(failed: list[str], calls: list[str]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.path}")
        if request.method == "GET":
            offset, count = int(request.url.params["offset"]), int(request.url.params["count"])
            page = failed[offset : offset + count]
            rows = [{"event_id": e, "status": "failed"} for e in page]
            return httpx.Response(200, json={"incoming": rows, "total_items": len(failed)})
        event_id = request.url.path.split("/")[3]
        if event_id.startswith("gone"):
            detail = f"event {event_id!r} is processed, not failed: nothing to re-drive"
            return httpx.Response(409, json={"detail": detail})
        return httpx.Response(202, json={"event_id": event_id, "status": "received"})

    return httpx.MockTransport(answer)


def _with(transport: httpx.MockTransport) -> Any:
    original = httpx.AsyncClient
    patch = pytest.MonkeyPatch()
    patch.setattr(redrive.httpx, "AsyncClient", lambda **kw: original(transport=transport, **kw))
    return patch


def test_every_failed_event_is_listed_once_oldest_first_then_redriven(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(redrive, "PAGE", 3)
    newest_first = ["e7", "e6", "gone5", "e4", "e3", "e3", "gone2", "e1"]  # e3: two receipts
    calls: list[str] = []
    patch = _with(_gateway(newest_first, calls))
    try:
        redriver = Redriver("http://gw", None, account="acme", in_flight=3)
        ids = asyncio.run(redriver.failed(None))
        assert ids == ["e1", "gone2", "e3", "e4", "gone5", "e6", "e7"]
        done: list[int] = []
        outcome = asyncio.run(redriver.redrive(ids, done.append))
    finally:
        patch.undo()
    assert calls[:3] == ["GET /v1/incoming"] * 3 and len(done) == 7
    assert (outcome.redriven, outcome.refused) == (5, 2)
    reason = "HTTP 409: event … is processed, not failed: nothing to re-drive"
    assert outcome.reasons == {reason: 2} and outcome.examples[reason] == ["gone2", "gone5"]


def test_a_refused_key_stops_the_redrive() -> None:
    patch = _with(httpx.MockTransport(lambda _r: httpx.Response(401, json={"detail": "no"})))
    try:
        with pytest.raises(RedriveStopped):
            asyncio.run(Redriver("http://gw", "wrong").failed(None))
    finally:
        patch.undo()


def test_since_takes_a_time_or_an_age() -> None:
    assert since_time("6h", NOW) == datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    assert since_time("7d", NOW) == datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert since_time("2026-11-30T14:00", NOW) == datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
    assert since_time("2026-11-30T14:00+01:00", NOW).utcoffset() is not None
    with pytest.raises(typer.BadParameter):
        since_time("yesterday", NOW)
