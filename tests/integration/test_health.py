"""/health tells whether events can be accepted and whether the worker and the sink keep up:
a sink that stops committing while records wait shows as stalled, and recovers."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from eventline.core.settings import Settings
from eventline.processes.pipeline import Pipeline
from eventline.sinks.sink import ClickHouseSink
from tests.integration.helpers import eventually, unique_email, wait_status


def _health(http: httpx.Client) -> dict[str, Any]:
    answer = http.get("/health")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_health_reports_kafka_clickhouse_and_each_groups_progress(http: httpx.Client) -> None:
    body = eventually(lambda: (b := _health(http))["status"] == "ok" and b, what="health ok")
    assert body["kafka"]["status"] == "ok" and body["kafka"]["brokers"] >= 1
    assert body["clickhouse"] == {"status": "ok"}
    for part in ("worker", "sink"):
        assert body[part]["status"] == "ok" and body[part]["stalled"] == []
        assert isinstance(body[part]["lag"], int)


def test_a_sink_that_stops_moving_shows_as_stalled_and_recovers(
    pipeline: Pipeline, settings: Settings, http: httpx.Client
) -> None:
    assert pipeline.sink is not None and pipeline.sink_thread is not None
    pipeline.sink.stop()
    pipeline.sink_thread.join(timeout=30)
    try:
        answer = http.post("/v1/events", json={"email": unique_email("stall"), "name": "x"})
        assert answer.status_code == 202
        stalled = eventually(
            lambda: (b := _health(http))["sink"]["status"] == "stalled" and b,
            what="the sink reported stalled",
        )
        assert stalled["status"] == "degraded"
        (where, *_others) = stalled["sink"]["stalled"]
        assert where["lag"] >= 1 and where["stalled_s"] >= settings.stall_after_s
    finally:
        assert pipeline.accounts is not None and pipeline.store is not None
        pipeline.sink = ClickHouseSink(
            settings, pipeline.store, erased=pipeline.accounts.erased_event_types
        )
        pipeline.sink_thread = threading.Thread(target=pipeline.sink.run, daemon=True)
        pipeline.sink_thread.start()
    wait_status(http, answer.json()["event_id"])
    eventually(lambda: _health(http)["sink"]["status"] == "ok", what="the sink moving again")
