"""Latency at a sustained rate: single events paced by the load generator (processes of its
own), p50/p99 from each 202 to the event's row in ClickHouse, or to its workflow trigger on
the workflows topic (read by an observer process as a consumer would)."""

from __future__ import annotations

import multiprocessing as mp
import queue
import statistics
import threading
import time
from functools import partial
from typing import Any

from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from bench import bodies, loadgen
from bench.deployment import Deployment
from bench.report import Row, Target
from eventline.schemas.codec import codec

ROW_POLL_S = 0.05
ROW_ACCOUNT = "bench-latency"


def _percentiles(latencies_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies_ms)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _paced_in_thread(
    target: loadgen.Target, make_body: loadgen.BodyMaker, n: int, rate: float, processes: int,
    progress: Any = None,
) -> tuple[threading.Thread, list[loadgen.Paced]]:  # fmt: skip
    done: list[loadgen.Paced] = []
    thread = threading.Thread(
        target=lambda: done.append(
            loadgen.paced(target, make_body, n, rate, processes, progress=progress)
        ),
        daemon=True,
    )
    thread.start()
    return thread, done


def row_latency(dep: Deployment, rate: float, seconds: float, processes: int, run: str) -> Row:
    """202 -> row in the ``events`` table, polled every 50 ms by event id."""
    dep.settle()
    n = max(1, int(rate * seconds))
    progress = mp.get_context("spawn").Queue()
    target = loadgen.Target(dep.url, headers={"X-Eventline-Account": ROW_ACCOUNT})
    thread, done = _paced_in_thread(
        target, partial(bodies.event, run=run + "l"), n, rate, processes, progress
    )
    acked: dict[str, float] = {}
    seen: dict[str, float] = {}
    deadline = time.monotonic() + seconds + 600
    while (thread.is_alive() or len(seen) < len(acked) or not progress.empty()) and (
        time.monotonic() < deadline
    ):
        try:
            while True:
                event_id, at = progress.get_nowait()
                acked[event_id] = at
        except queue.Empty:
            pass
        pending = [e for e in acked if e not in seen]
        if pending:
            rows = dep.query(
                "SELECT event_id FROM {db}.events WHERE account_id = {a:String} "
                "AND event_id IN {ids:Array(String)}",
                {"a": ROW_ACCOUNT, "ids": pending},
            )
            now = time.monotonic()
            for row in rows:
                seen.setdefault(row["event_id"], now)
        time.sleep(ROW_POLL_S)
    thread.join(5)
    if not done or len(seen) < len(acked):
        raise TimeoutError(f"202 -> row: {len(seen)} of {len(acked)} rows seen")
    p50, p99 = _percentiles([(seen[e] - acked[e]) * 1000 for e in acked])
    print(
        f"202 -> ClickHouse row: p50 {p50:6.0f} ms, p99 {p99:6.0f} ms ({n} events at "
        f"{rate:.0f}/s asked, {done[0].rate:.0f}/s sent, sink batch wait "
        f"{dep.settings.sink_batch_wait_s}s, polled every {ROW_POLL_S * 1000:.0f} ms)",
        flush=True,
    )
    return Row(f"202 -> ClickHouse row p99 ({rate:.0f}/s)", p99, "ms",
               target=Target(at_most=2000))  # fmt: skip


def _observe(bootstrap: str, topic: str, tag: str, ready: Any, stop: Any, out: Any) -> None:
    """Observer process: the arrival time of each trigger of this run's probes."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-observer-{tag}",
                         "enable.auto.commit": False})  # fmt: skip
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in parts])
    consumer.consume(1, 1.0)  # positions resolved at the end before the first probe goes
    ready.set()
    seen: dict[str, float] = {}
    avro = codec()
    while not stop.is_set():
        for msg in consumer.consume(500, 0.05):
            if msg.error() is None:
                now = time.monotonic()
                trigger = avro.decode("WorkflowTrigger", msg.value() or b"")
                if (trigger.get("contact_email") or "").endswith(tag):
                    seen.setdefault(trigger["event_id"], now)
    consumer.close()
    out.put(seen)


def trigger_latency(
    dep: Deployment, rate: float, seconds: float, processes: int, run: str, rules: int
) -> Row:
    """202 -> workflow trigger of new contacts' latency probes, with the 20 rules active."""
    dep.settle()
    n = max(1, int(rate * seconds))
    tag = f".{run}t@example.com"
    ctx = mp.get_context("spawn")
    ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    observer = ctx.Process(
        target=_observe,
        args=(dep.settings.bootstrap(), dep.topics.workflows, tag, ready, stop, out),
        daemon=True,
    )
    observer.start()
    if not ready.wait(60):
        raise TimeoutError("the trigger observer did not start")
    sent = loadgen.paced(
        loadgen.Target(dep.url), partial(bodies.probe, run=run + "t"), n, rate, processes
    )
    dep.settle(timeout_s=seconds + 600)
    time.sleep(0.5)  # the observer reads what the worker wrote just before settling
    stop.set()
    seen: dict[str, float] = out.get(timeout=60)
    observer.join(10)
    missing = [e for e in sent.acks if e not in seen]
    if missing:
        raise RuntimeError(f"202 -> trigger: {len(missing)} of {len(sent.acks)} never came")
    p50, p99 = _percentiles([(seen[e] - at) * 1000 for e, at in sent.acks.items()])
    print(
        f"202 -> trigger       : p50 {p50:6.0f} ms, p99 {p99:6.0f} ms ({n} events at "
        f"{rate:.0f}/s asked, {sent.rate:.0f}/s sent, each a new contact, {rules} rules)",
        flush=True,
    )
    return Row(f"202 -> workflow trigger p99 ({rate:.0f}/s, {rules} rules)", p99, "ms",
               target=Target(at_most=100))  # fmt: skip
