"""Gateway figures: single posts beside the two Starlette anchors, bulk posts beside raw
produce; the same load generator (processes of its own) drives all of them."""

from __future__ import annotations

from functools import partial

from bench import bodies, loadgen
from bench.anchors.runner import Anchors
from bench.deployment import Deployment
from bench.report import Row, Target

SINGLE_CLIENTS = 16


def single_posts(dep: Deployment, anchors: Anchors, n: int, processes: int, run: str) -> list[Row]:
    """events/s of n single posts from 16 concurrent clients, each answered after the ack."""
    dep.settle()
    bare = anchors.starlette(False, n, SINGLE_CLIENTS, processes)
    acked = anchors.starlette(True, n, SINGLE_CLIENTS, processes)
    took = loadgen.throughput(
        loadgen.Target(dep.url), partial(bodies.event, run=run), n, SINGLE_CLIENTS, processes
    )
    print(
        f"gateway single posts : {took.per_s:8.0f} events/s ({n} events, {SINGLE_CLIENTS} "
        f"clients in {processes} processes, {took.seconds:.1f}s); anchors: bare Starlette "
        f"{bare:.0f}/s, Starlette + Kafka ack {acked:.0f}/s",
        flush=True,
    )
    return [
        Row("gateway single posts", took.per_s, "events/s", acked, "Starlette + Kafka ack",
            Target(at_least=2000, min_ratio=0.5)),
        Row("gateway single posts", took.per_s, "events/s", bare, "bare Starlette"),
    ]  # fmt: skip


def bulk_posts(
    dep: Deployment, anchors: Anchors, posts: int, size: int, clients: int, processes: int, run: str
) -> list[Row]:
    """events/s of bulk posts of ``size`` events from ``clients`` concurrent clients."""
    dep.settle()
    produced = anchors.raw_produce()
    make_body = partial(bodies.bulk, run=run + "b", size=size)
    took = loadgen.throughput(loadgen.Target(dep.url), make_body, posts, clients, processes)
    rate = took.per_s * size
    print(
        f"gateway bulk posts   : {rate:8.0f} events/s ({posts} posts of {size}, {clients} "
        f"clients in {processes} processes, {took.seconds:.1f}s); anchor: raw produce "
        f"{produced:.0f} msg/s",
        flush=True,
    )
    return [
        Row(f"gateway bulk posts ({size}/request)", rate, "events/s", produced, "raw produce",
            Target(at_least=25000, min_ratio=0.2)),
    ]  # fmt: skip
