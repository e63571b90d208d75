"""Automation figures: the worker's events/s with 20 active rules over 100k contacts, and the
latency from the gateway's 202 to the workflow trigger on the workflows topic."""

from __future__ import annotations

import asyncio
import random
import statistics
import threading
import time
import uuid
from typing import Any

import httpx
from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from bench.common import high_watermarks, wait_until, worker_lag
from eventline.pipeline import Pipeline, WorkerProcess
from eventline.settings import Settings
from eventline.topics import Topics
from schemas.codec import codec

MUG = [{"property": "sku", "op": "contains", "value": "MUG"}]
# 20 rules of one account: 7 tag rules, 7 segments, 6 workflows (one is the latency probe).
RULES: dict[str, dict[str, Any]] = {
    "t-mugs": {"kind": "tag", "when": {"name": "viewed_product", "where": MUG},
               "add": ["mug-enthusiast"]},
    "t-hats": {"kind": "tag", "when": {"name": "viewed_product", "where": [
        {"property": "sku", "op": "contains", "value": "HAT"}]}, "add": ["hat-fan"]},
    "t-buyers": {"kind": "tag", "when": {"name": "purchase"}, "add": ["customer"],
                 "remove": ["cart-open"]},
    "t-carts": {"kind": "tag", "when": {"name": "cart"}, "add": ["cart-open"]},
    "t-referrers": {"kind": "tag", "when": {"name": "registered_referral"}, "add": ["referrer"]},
    "t-big-order": {"kind": "tag", "when": {"name": "purchase", "where": [
        {"property": "total", "op": "gte", "value": 50}]}, "add": ["big-order"]},
    "t-downloads": {"kind": "tag", "when": {"name": "file download request"},
                    "add": ["downloader"]},
    "s-referrers": {"kind": "segment", "condition": {"kind": "did",
                                                     "name": "registered_referral"}},
    "s-mugs": {"kind": "segment", "condition": {"kind": "did", "name": "viewed_product",
                                                "where": MUG}},
    "s-active-7d": {"kind": "segment", "condition": {"kind": "did", "name": "login",
                                                     "within_days": 7}},
    "s-lapsed-14d": {"kind": "segment", "condition": {"kind": "all", "conditions": [
        {"kind": "did", "name": "login"},
        {"kind": "did_not", "name": "login", "within_days": 14}]}},
    "s-abandoned-cart": {"kind": "segment", "condition": {
        "kind": "then_not", "first": "cart", "then": "purchase", "within_s": 7200}},
    "s-big-spenders": {"kind": "segment", "condition": {
        "kind": "value_sum", "name": "purchase", "within_days": 30, "op": "gte", "amount": 100}},
    "s-regulars": {"kind": "segment", "condition": {
        "kind": "did", "name": "purchase", "within_days": 30, "min_count": 3}},
    "w-referral": {"kind": "workflow", "workflow_id": "referral-discount",
                   "when": {"name": "registered_referral"}, "once_per_contact": True},
    "w-file": {"kind": "workflow", "workflow_id": "send-file",
               "when": {"name": "file download request"}},
    "w-welcome-back": {"kind": "workflow", "workflow_id": "welcome-back",
                       "when": {"name": "login"}, "at_most_every_s": 86400},
    "w-thanks": {"kind": "workflow", "workflow_id": "thanks", "when": {"name": "purchase"}},
    "w-mug-offer": {"kind": "workflow", "workflow_id": "mug-offer",
                    "when": {"name": "viewed_product"},
                    "contact": {"kind": "tag", "tag": "mug-enthusiast"},
                    "at_most_every_s": 604800},
    "w-probe": {"kind": "workflow", "workflow_id": "probe", "when": {"name": "latency_probe"}},
}  # fmt: skip
NAMES = ["viewed_product", "purchase", "login", "cart", "registered_referral",
         "file download request"]  # fmt: skip


def put_rules(url: str) -> int:
    with httpx.Client(base_url=url, timeout=30) as client:
        for rule_id, definition in RULES.items():
            client.put(f"/v1/rules/{rule_id}", json=definition).raise_for_status()
    return len(RULES)


def _event(contact: int, run: str, rng: random.Random) -> dict[str, Any]:
    name = rng.choice(NAMES)
    event: dict[str, Any] = {"email": f"c{contact}.{run}@example.com", "name": name}
    if name == "viewed_product":
        event["properties"] = {"sku": rng.choice(["MUG-1", "MUG-2", "HAT-1", "TEE-1"])}
    elif name == "purchase":
        total = rng.choice([10, 25, 60, 120])
        event["properties"], event["value"] = {"total": total}, float(total)
    elif name == "file download request":
        event["properties"] = {"eventdata": "https://example.com/f.pdf"}
    return event


async def _post_bulks(url: str, bulks: list[list[dict[str, Any]]], concurrency: int) -> None:
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for bulk in bulks:
        queue.put_nowait(bulk)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            answer = await client.post("/v1/events", json=queue.get_nowait())
            if answer.status_code != 202:
                raise RuntimeError(f"gateway answered {answer.status_code}: {answer.text[:200]}")

    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))


def _out(settings: Settings) -> int:
    """Canonical events on the events topic so far."""
    return high_watermarks(settings.bootstrap(), Topics(settings.topic_prefix).events)


def _timed_through_worker(
    pipeline: Pipeline, events: list[dict[str, Any]], timeout_s: float = 1800
) -> float:
    """Queue the events while the worker is stopped, start it: seconds from its first
    canonical event out to its last (its start and table recovery are not counted)."""
    assert pipeline.gateway is not None and pipeline.worker is not None
    wait_until(lambda: worker_lag(pipeline.settings) == 0, timeout_s, "worker catch-up")
    before = _out(pipeline.settings)
    pipeline.worker.stop()
    bulks = [events[i : i + 500] for i in range(0, len(events), 500)]
    asyncio.run(_post_bulks(pipeline.gateway.url, bulks, 4))
    pipeline.worker = WorkerProcess(pipeline.settings)
    pipeline.worker.start()
    deadline = time.monotonic() + timeout_s
    first: float | None = None
    while (done := _out(pipeline.settings) - before) < len(events):
        if first is None and done > 0:
            first = time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError("the worker did not catch up")
        time.sleep(0.1)
    return time.monotonic() - (first or time.monotonic())


def bench_rules_worker(pipeline: Pipeline, contacts: int, events: int, run: str) -> None:
    """20 rules; first one event for each of ``contacts`` new contacts, then ``events`` more
    spread over them (the steady state: every contact has state)."""
    assert pipeline.gateway is not None
    rules = put_rules(pipeline.gateway.url)
    rng = random.Random(42)
    took = _timed_through_worker(pipeline, [_event(c, run, rng) for c in range(contacts)])
    print(
        f"worker, {rules} rules     : {contacts / took:8.0f} events/s ({contacts} events, "
        f"each the first of a new contact: {contacts} contacts created)"
    )
    steady = [_event(rng.randrange(contacts), run, rng) for _ in range(events)]
    took = _timed_through_worker(pipeline, steady)
    print(
        f"worker, {rules} rules     : {events / took:8.0f} events/s ({events} events over "
        f"{contacts} contacts with history, tags and segments)"
    )


def bench_trigger_latency(pipeline: Pipeline, n: int, rate: float, run: str) -> None:
    """Send n single events that trigger a workflow, at ``rate``/s; time from each 202 to
    its trigger on the workflows topic."""
    assert pipeline.gateway is not None
    settings = pipeline.settings
    wait_until(lambda: worker_lag(settings) == 0, 1800, "worker catch-up")
    topic = Topics(settings.topic_prefix).workflows
    consumer = Consumer(
        {"bootstrap.servers": settings.bootstrap(), "group.id": f"bench-{uuid.uuid4()}"}
    )
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in parts])
    consumer.poll(1.0)  # positions at the end before the first event is sent
    acked: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop = threading.Event()

    def follow() -> None:
        while not stop.is_set():
            for msg in consumer.consume(100, 0.05):
                if msg.error() is None:
                    trigger = codec().decode("WorkflowTrigger", msg.value() or b"")
                    seen.setdefault(trigger["event_id"], time.monotonic())

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    with httpx.Client(base_url=pipeline.gateway.url, timeout=30) as client:
        for i in range(n):
            body = {"email": f"probe{i}.{run}@example.com", "name": "latency_probe"}
            answer = client.post("/v1/events", json=body)
            acked[answer.json()["event_id"]] = time.monotonic()
            time.sleep(1 / rate)
    deadline = time.monotonic() + 300
    while not all(e in seen for e in acked) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    reader.join(5)
    consumer.close()
    latencies = sorted((seen[e] - acked[e]) * 1000 for e in acked if e in seen)
    if len(latencies) < len(acked):
        raise TimeoutError(f"{len(acked) - len(latencies)} triggers never came")
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"202 -> trigger       : p50 {p50:6.0f} ms, p99 {p99:6.0f} ms ({n} events at "
        f"{rate:.0f}/s, each a new contact, {len(RULES)} rules active)"
    )
