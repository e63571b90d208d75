"""Batches to the gateway, answered in order, retried and split (eventline.producers.importer.send),
against a fake gateway that answers as the bulk route does."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest

from eventline.producers.importer import send
from eventline.producers.importer.lines import Line
from eventline.producers.importer.send import ImportStopped, Sender


def _lines(n: int) -> list[Line]:
    return [Line(i + 1, {"name": "e" if i % 3 else "", "user_id": "u"}) for i in range(n)]


def _gateway(calls: list[int], fail_first: int = 0, most: int = 1000) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        events = orjson.loads(request.content)
        calls.append(len(events))
        if len(calls) <= fail_first:
            return httpx.Response(503)
        if len(events) > most:
            return httpx.Response(413, json={"error": "too_many_events"})
        results: list[dict[str, Any]] = []
        for i, event in enumerate(events):
            if event["name"]:
                results.append({"event_id": "x", "status": "received"})
            else:
                errors = [{"field": f"[{i}].name", "reason": "must not be empty"}]
                results.append({"event_id": "x", "status": "rejected", "errors": errors})
        return httpx.Response(207, json={"results": results})

    return httpx.MockTransport(answer)


def _run(sender: Sender, lines: list[Line], transport: httpx.MockTransport) -> list[int]:
    answered: list[int] = []
    original = httpx.AsyncClient

    def client(**kwargs: Any) -> httpx.AsyncClient:
        return original(transport=transport, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(send.httpx, "AsyncClient", client)
        asyncio.run(sender.run(lines, answered.append))
    return answered


def test_every_line_is_answered_for_in_order_with_rejections_by_field() -> None:
    calls: list[int] = []
    sender = Sender("http://gw", "k", batch=10)
    answered = _run(sender, [*_lines(25), Line(26, None, "not JSON")], _gateway(calls))
    assert answered == [10, 10, 6] and calls == [10, 10, 5]
    tally = sender.tally
    assert (tally.accepted, tally.rejected) == (16, 10)
    assert tally.reasons["name: must not be empty"] == 9 and tally.reasons["not JSON"] == 1
    assert tally.examples["name: must not be empty"] == [1, 4, 7, 10, 13]


def test_a_gateway_that_cannot_take_a_batch_now_is_asked_again() -> None:
    calls: list[int] = []
    sender = Sender("http://gw", None, batch=10, first_pause_s=0)
    assert _run(sender, _lines(10), _gateway(calls, fail_first=2)) == [10]
    assert calls == [10, 10, 10] and sender.tally.accepted == 6


def test_a_batch_the_gateway_finds_too_large_is_split() -> None:
    calls: list[int] = []
    sender = Sender("http://gw", None, batch=10)
    _run(sender, _lines(10), _gateway(calls, most=4))
    assert calls == [10, 5, 2, 3, 5, 2, 3] and sender.tally.accepted + sender.tally.rejected == 10


def test_a_refused_key_stops_the_import_with_the_reason() -> None:
    transport = httpx.MockTransport(lambda _r: httpx.Response(401, json={"detail": "bad key"}))
    with pytest.raises(ImportStopped, match="--key"):
        _run(Sender("http://gw", "wrong", batch=10), _lines(3), transport)


def test_a_refusal_while_batches_wait_stops_the_import_at_once() -> None:
    transport = httpx.MockTransport(lambda _r: httpx.Response(401, json={"detail": "bad key"}))
    sender = Sender("http://gw", "wrong", batch=10, in_flight=4)

    async def bounded() -> None:
        await asyncio.wait_for(_run_async(sender, _lines(2000), transport), 10)

    with pytest.raises(ImportStopped, match="--key"):
        asyncio.run(bounded())


async def _run_async(sender: Sender, lines: list[Line], transport: httpx.MockTransport) -> None:
    original = httpx.AsyncClient
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(send.httpx, "AsyncClient", lambda **kw: original(transport=transport, **kw))
        await sender.run(lines, lambda _n: None)
