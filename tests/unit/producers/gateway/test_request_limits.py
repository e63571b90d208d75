"""Unbounded requests (issue 10): bodies past their route's limit are 413 before they are read,
an event past the per-event bounds is 413 and recorded as rejected, a slow body is 408."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from eventline.core.settings import Settings
from eventline.producers.dialects import segment
from eventline.producers.gateway import app as gateway_app
from eventline.producers.gateway.limits import RequestLimits, body_limit
from eventline.producers.gateway.serving import uvicorn_options
from eventline.schemas.limits import MAX_PROPERTIES_BYTES
from tests.unit.producers.gateway.conftest import FakeWriter, use_fakes

EVENT = {"email": "ada@example.com", "name": "purchase"}


def _basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def test_each_route_has_its_body_limit() -> None:
    settings = Settings()
    assert body_limit(settings, "/v1/events") == settings.bulk_body_max_bytes
    assert body_limit(settings, "/api/v1/client/events/bulk") == settings.bulk_body_max_bytes
    assert body_limit(settings, "/v1/contacts") == settings.body_max_bytes
    assert body_limit(settings, "/v1/rules/r1") == settings.rules_body_max_bytes
    assert body_limit(settings, "/v1/track") == segment.MAX_CALL_BYTES == 32 * 1024
    assert body_limit(settings, "/v1/batch") == segment.MAX_BATCH_BYTES == 500 * 1024


def test_a_body_declared_too_large_is_413_before_it_is_read() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the app must not be called")

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body must not be read")

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    settings = Settings()
    length = str(settings.body_max_bytes + 1).encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/contacts",
        "headers": [(b"content-length", length)],
    }
    asyncio.run(RequestLimits(app, settings)(scope, receive, send))
    assert sent[0]["status"] == 413
    body = json.loads(sent[1]["body"])
    assert body["error"] == "body_too_large" and body["field"] == "body"
    assert str(settings.body_max_bytes) in body["reason"]


def test_a_streamed_body_is_cut_at_the_limit(client: TestClient, writer: FakeWriter) -> None:
    chunk = b"x" * 65536

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        for _ in range(40):
            yield chunk

    answer = client.post(
        "/v1/contacts", content=chunks(), headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413 and answer.json()["error"] == "body_too_large"
    assert not writer.records


def test_segment_calls_and_batches_have_segments_own_limits(
    client: TestClient, writer: FakeWriter
) -> None:
    client.post("/v1/accounts", json={"account_id": "app"})
    key = client.post("/v1/accounts/app/keys").json()["key"]
    big = {"userId": "u", "event": "e", "properties": {"x": "y" * (33 * 1024)}}
    answer = client.post("/v1/track", json=big, headers=_basic(key))
    assert answer.status_code == 413 and answer.json()["success"] is False
    batch = {"batch": [{"type": "track", **big}, {"type": "track", "userId": "u", "event": "e"}]}
    answer = client.post("/v1/batch", json=batch, headers=_basic(key))
    assert answer.status_code == 413, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["batch[0].body"]
    assert len(writer.incoming()) == 1 and len(writer.statuses()) == 1  # the good call stays
    huge = {"batch": [{"type": "track", **big}] * 16}
    answer = client.post("/v1/batch", json=huge, headers=_basic(key))
    assert answer.status_code == 413 and "512000 bytes" in answer.json()["message"]


def test_a_single_event_too_large_is_413_and_recorded_as_rejected(
    client: TestClient, writer: FakeWriter
) -> None:
    body = {**EVENT, "properties": {"blob": "x" * 1_200_000}}
    answer = client.post("/v1/events", json=body)
    assert answer.status_code == 413, answer.text
    error = answer.json()["errors"][0]
    assert error["field"] == "properties" and str(MAX_PROPERTIES_BYTES) in error["reason"]
    assert not writer.incoming()
    [(_, status)] = writer.statuses()
    assert status["status"] == "REJECTED" and "properties" in status["process_error"]
    assert status["record"]["event_id"] == answer.json()["event_id"]
    assert len(writer.records[0][2]) < 1_000_000  # the status itself fits a Kafka message


def test_non_latin_text_weighs_its_utf8_bytes(client: TestClient, writer: FakeWriter) -> None:
    # 20,000 CJK characters: 60 KB in UTF-8 (within 64 KiB), 120 KB as \\u escapes
    body = {**EVENT, "properties": {"text": "字" * 20_000}}
    assert client.post("/v1/events", json=body).status_code == 202
    [(_, record)] = writer.incoming()
    assert "字" in record["properties_json"]


def test_a_bulk_of_too_large_events_is_413_with_a_result_per_event(client: TestClient) -> None:
    big = {**EVENT, "properties": {"blob": "x" * (MAX_PROPERTIES_BYTES + 1)}}
    answer = client.post("/v1/events", json=[big, big])
    assert answer.status_code == 413
    assert [r["status"] for r in answer.json()["results"]] == ["rejected", "rejected"]
    assert client.post("/v1/events", json=[big, EVENT]).status_code == 207


def test_a_body_not_received_in_time_is_408() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the app must not be called")

    async def receive() -> dict[str, Any]:
        if not hasattr(receive, "sent"):
            receive.sent = True  # type: ignore[attr-defined]
            return {"type": "http.request", "body": b'{"name": ', "more_body": True}
        await asyncio.sleep(3600)  # the rest never comes
        raise AssertionError

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/track", "headers": []}
    settings = Settings(body_timeout_s=0.2)
    asyncio.run(RequestLimits(app, settings)(scope, receive, send))
    assert sent[0]["status"] == 408
    assert json.loads(sent[1]["body"])["success"] is False  # Segment's shape on its path


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, int]]:
    """The gateway served by uvicorn on a free loopback port (Kafka faked)."""
    use_fakes(monkeypatch)
    settings = Settings(gateway_port=0, body_timeout_s=0.5, gateway_max_connections=50)
    options = {**uvicorn_options(settings), "log_level": "warning"}
    server = uvicorn.Server(uvicorn.Config(gateway_app.create_app(settings), **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield "127.0.0.1", port
    server.should_exit = True
    thread.join(timeout=10)


def test_a_half_sent_body_is_answered_408_and_the_connection_closed(
    served: tuple[str, int],
) -> None:
    with socket.create_connection(served, timeout=10) as conn:
        conn.sendall(
            b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"name": '
        )
        started = time.monotonic()
        answer = b""
        while chunk := conn.recv(65536):  # the server closes the connection after answering
            answer += chunk
        assert time.monotonic() - started < 5
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"body_timeout" in answer


def test_uvicorn_bounds_concurrent_connections() -> None:
    options = uvicorn_options(Settings(gateway_max_connections=123))
    assert options["limit_concurrency"] == 123


def test_kafka_refusing_a_record_as_too_large_is_413_not_a_retry(
    client: TestClient, writer: FakeWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past every bound we check; still, librdkafka's MSG_SIZE_TOO_LARGE is never a 503.
    from confluent_kafka import KafkaError

    from eventline.core.kafka import refusal

    async def refuse(records: Any, timeout_s: float) -> None:
        raise refusal("eventline.incoming", "k", KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))

    monkeypatch.setattr(writer, "produce_many", refuse)
    answer = client.post("/v1/events", json=EVENT)
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"] == "body_too_large"


def test_the_kafka_writer_names_a_record_too_large_as_permanent() -> None:
    from eventline.core.errors import InvalidEvent
    from eventline.core.kafka import KafkaWriter

    writer = KafkaWriter("127.0.0.1:1", timeout_s=1, **{"message.max.bytes": 1000})
    try:
        with pytest.raises(InvalidEvent, match="too large"):
            asyncio.run(writer.produce_many([("t", "k", b"x" * 5000)], 1))
    finally:
        writer.close()
