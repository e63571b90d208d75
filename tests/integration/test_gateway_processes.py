"""The gateway as several processes on one port (EVENTLINE_GATEWAY_PROCESSES): each serves
ingest and the read APIs (through the store link of the process that owns ClickHouse),
/metrics sums them all, and one that dies is started again."""

from __future__ import annotations

import re

import httpx

from eventline.processes.pipeline import Pipeline
from tests.integration.helpers import eventually, unique_email, wait_status


def _accepted(text: str) -> float:
    """eventline_gateway_accepted_total summed over its label sets."""
    found = re.findall(r"^eventline_gateway_accepted_total\{[^}]*\} (\S+)$", text, re.M)
    return sum(float(v) for v in found)


def _fresh_client(pipeline: Pipeline) -> httpx.Client:
    """No keep-alive: each request may land on any process."""
    assert pipeline.gateway is not None
    limits = httpx.Limits(max_keepalive_connections=0)
    return httpx.Client(base_url=pipeline.gateway.url, timeout=30, limits=limits)


def test_every_process_serves_ingest_reads_and_summed_metrics(pipeline: Pipeline) -> None:
    assert pipeline.gateway is not None
    alive = [c for c in pipeline.gateway.children if c is not None and c.poll() is None]
    assert len(alive) == pipeline.settings.gateway_processes >= 2
    with _fresh_client(pipeline) as http:
        before = _accepted(http.get("/metrics").text)
        ids = []
        for i in range(30):
            answer = http.post("/v1/events", json={"email": unique_email(), "name": f"p{i}"})
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["event_id"])
        # Whichever process answers the scrape counts the events of all of them.
        for _ in range(5):
            assert _accepted(http.get("/metrics").text) - before >= 30
        for event_id in ids[:3]:  # read APIs through the owner's ClickHouse, on any process
            wait_status(http, event_id, "processed")
        assert http.get("/health").json().get("clickhouse") == {"status": "ok"}


def test_a_process_that_died_is_started_again(pipeline: Pipeline) -> None:
    assert pipeline.gateway is not None
    victim = pipeline.gateway.children[0]
    assert victim is not None
    victim.kill()
    victim.wait(30)
    assert pipeline.gateway.restart_dead() == 1
    with _fresh_client(pipeline) as http:

        def all_answer() -> bool:
            event = {"user_id": "u-1", "name": "x"}
            return all(http.post("/v1/events", json=event).status_code == 202 for _ in range(10))

        eventually(all_answer, what="every request answered after the restart")
    child = pipeline.gateway.children[0]
    assert child is not None and child is not victim and child.poll() is None
