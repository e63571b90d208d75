"""Throughput and latency of the local pipeline on this machine: ``python -m bench``.

Starts its own broker (free ports, temporary data) and embedded ClickHouse, then measures:
gateway events/s (single and bulk posts), worker events/s, sink rows/s, the latency from the
gateway's 202 to the row in ClickHouse (p50/p99); then, with 20 rules active, the worker's
events/s over 100k contacts and the latency from the 202 to the workflow trigger
(bench/automation.py). Prints one line per figure.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.automation import bench_rules_worker, bench_trigger_latency
from bench.common import group_lag, high_watermarks, wait_until, worker_lag
from eventline.local_kafka import LocalKafka
from eventline.pipeline import Pipeline, WorkerProcess
from eventline.settings import Settings
from eventline.topics import Topics
from sinks.sink import ROWS_WRITTEN, ClickHouseSink


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _event(i: int, run: str) -> dict[str, Any]:
    return {
        "email": f"bench{i % 1000}.{run}@example.com",
        "name": "viewed_product",
        "properties": {"sku": f"SKU-{i % 50}", "i": i},
        "value": 1.0,
    }


async def _post_all(url: str, bodies: list[Any], concurrency: int) -> float:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            answer = await client.post("/v1/events", json=body)
            if answer.status_code != 202:
                raise RuntimeError(f"gateway answered {answer.status_code}: {answer.text[:200]}")

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return time.perf_counter() - started


def _sink_lag(settings: Settings) -> int:
    """Records on the sink's topics that its consumer group has not committed yet."""
    topics = Topics(settings.topic_prefix)
    sunk = [topics.incoming, topics.event_status, topics.events, topics.contacts]
    automation = [topics.tags, topics.segments, topics.workflows]
    group = f"{settings.topic_prefix}-clickhouse-sink"
    return group_lag(settings.bootstrap(), group, sunk + automation)


def bench_gateway(url: str, n_single: int, n_bulk: int, bulk_size: int, run: str) -> None:
    singles = [_event(i, run) for i in range(n_single)]
    took = asyncio.run(_post_all(url, singles, concurrency=16))
    print(
        f"gateway single posts : {n_single / took:8.0f} events/s ({n_single} events, "
        f"16 concurrent clients, {took:.1f}s)"
    )
    bulks = [[_event(i * bulk_size + j, run) for j in range(bulk_size)] for i in range(n_bulk)]
    took = asyncio.run(_post_all(url, bulks, concurrency=4))
    total = n_bulk * bulk_size
    print(
        f"gateway bulk posts   : {total / took:8.0f} events/s ({n_bulk} posts of {bulk_size}, "
        f"4 concurrent clients, {took:.1f}s)"
    )


def bench_worker(pipeline: Pipeline, settings: Settings, n: int, run: str) -> None:
    """Stop the worker, queue n events, start it: time until n canonical events are out."""
    assert pipeline.worker is not None and pipeline.gateway is not None
    topics = Topics(settings.topic_prefix)
    # The gateway benchmarks queue events faster than the worker handles them: count only ours.
    wait_until(lambda: worker_lag(settings) == 0, 1800, "worker catch-up")
    pipeline.worker.stop()
    before = high_watermarks(settings.bootstrap(), topics.events)
    bulks = [[_event(i * 500 + j, run + "w") for j in range(500)] for i in range(n // 500)]
    asyncio.run(_post_all(pipeline.gateway.url, bulks, concurrency=4))
    pipeline.worker = WorkerProcess(settings)
    pipeline.worker.start()
    pipeline.worker.wait_ready()
    started = time.monotonic()
    done = wait_until(
        lambda: high_watermarks(settings.bootstrap(), topics.events) - before >= n,
        600,
        "worker output",
    )
    print(
        f"worker               : {n / (done - started):8.0f} events/s ({n} queued events, "
        f"resolve + join + canonical emit, 1 worker, {settings.partitions} partitions)"
    )


def bench_sink(pipeline: Pipeline, settings: Settings) -> None:
    """A second sink, new consumer group, re-reads every output topic into ClickHouse."""
    assert pipeline.store is not None
    topics = Topics(settings.topic_prefix)
    total = sum(
        high_watermarks(settings.bootstrap(), t)
        for t in (topics.incoming, topics.event_status, topics.events, topics.contacts)
    )
    assert pipeline.accounts is not None
    sink = ClickHouseSink(
        settings,
        pipeline.store,
        group_id=f"bench-sink-{uuid.uuid4()}",
        erased=pipeline.accounts.erased_event_types,
    )
    written = lambda: sum(s.get() for s in _row_counters())  # noqa: E731
    start_rows = written()
    thread = threading.Thread(target=sink.run, daemon=True)
    started = time.monotonic()
    thread.start()
    # identity claims are not rows: stop at >= 95% of the records, then count what was written
    done = wait_until(lambda: written() - start_rows >= total * 0.95, 600, "sink replay")
    rows = written() - start_rows
    sink.stop()
    thread.join(30)
    print(
        f"sink                 : {rows / (done - started):8.0f} rows/s ({rows:.0f} rows, batches "
        f"of up to {settings.sink_batch_size}, embedded ClickHouse)"
    )


def _row_counters() -> list[Any]:
    return [ROWS_WRITTEN.labels(t)._value for t in ("events", "incoming_events", "contacts")]


def bench_latency(pipeline: Pipeline, n: int, rate: float, run: str) -> None:
    """Send n single events at ``rate``/s; time from each 202 to its row in ClickHouse."""
    assert pipeline.gateway is not None and pipeline.store is not None
    store = pipeline.store
    # Start from an idle pipeline: the worker and the sink have handled everything queued.
    wait_until(lambda: worker_lag(pipeline.settings) == 0, 1800, "worker catch-up")
    wait_until(lambda: _sink_lag(pipeline.settings) == 0, 600, "sink catch-up")
    acked: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            pending = [e for e in acked if e not in seen]
            if pending:
                rows = store.query(
                    "SELECT event_id FROM {db}.events WHERE event_id IN {ids:Array(String)}",
                    {"ids": pending},
                )
                now = time.monotonic()
                for row in rows:
                    seen.setdefault(row["event_id"], now)
            time.sleep(0.02)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    with httpx.Client(base_url=pipeline.gateway.url, timeout=30) as client:
        for i in range(n):
            answer = client.post("/v1/events", json=_event(i, run + "l"))
            acked[answer.json()["event_id"]] = time.monotonic()
            time.sleep(1 / rate)
    wait_until(lambda: len(seen) >= n, 300, "latency rows")
    stop.set()
    latencies = sorted((seen[e] - acked[e]) * 1000 for e in acked)
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"202 -> ClickHouse row: p50 {p50:6.0f} ms, p99 {p99:6.0f} ms ({n} events at {rate:.0f}/s,"
        f" sink batch wait {pipeline.settings.sink_batch_wait_s}s, polling every 20 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--single", type=int, default=3000, help="single posts")
    parser.add_argument("--bulk", type=int, default=100, help="bulk posts")
    parser.add_argument("--bulk-size", type=int, default=100, help="events per bulk post")
    parser.add_argument("--worker-events", type=int, default=20000)
    parser.add_argument("--latency-events", type=int, default=300)
    parser.add_argument("--latency-rate", type=float, default=50.0)
    parser.add_argument("--contacts", type=int, default=100_000, help="contacts with rules")
    parser.add_argument("--rules-events", type=int, default=20_000, help="events with rules")
    parser.add_argument("--only", choices=["pipeline", "automation"], help="one part only")
    args = parser.parse_args()

    run = uuid.uuid4().hex[:6]
    jars = LocalKafka.from_settings(Settings()).libs
    with tempfile.TemporaryDirectory(prefix="eventline-bench-") as home:
        broker = LocalKafka(
            root=Path(home) / "kafka",
            version=Settings().kafka_version,
            port=_port(),
            controller_port=_port(),
            jars=jars,
        )
        settings = Settings(
            home=Path(home),
            kafka_bootstrap=broker.start(),
            topic_prefix=f"bench-{run}",
            gateway_port=_port(),
            worker_metrics_port=_port(),
            sink_batch_wait_s=0.1,
        )
        pipeline = Pipeline(settings)
        try:
            pipeline.start()
            print(
                f"eventline bench: Kafka {settings.kafka_version} local broker, "
                f"{settings.partitions} partitions, embedded ClickHouse"
            )
            assert pipeline.gateway is not None
            if args.only != "automation":
                bench_gateway(pipeline.gateway.url, args.single, args.bulk, args.bulk_size, run)
                bench_worker(pipeline, settings, args.worker_events, run)
                bench_latency(pipeline, args.latency_events, args.latency_rate, run)
                bench_sink(pipeline, settings)
            if args.only != "pipeline":
                bench_rules_worker(pipeline, args.contacts, args.rules_events, run)
                bench_trigger_latency(pipeline, args.latency_events, args.latency_rate, run)
        finally:
            pipeline.stop()
            broker.stop()


if __name__ == "__main__":
    main()
