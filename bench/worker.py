"""Worker figures: events/s through the worker, from its first canonical event out to its
last, for events queued while it was stopped (its start and table recovery are not timed);
beside a bare Faust agent and the plain confluent-kafka loop."""

from __future__ import annotations

import time
from functools import partial

from bench import bodies, loadgen
from bench.anchors.runner import Anchors
from bench.common import high_watermarks
from bench.deployment import Deployment
from bench.loadgen import BodyMaker
from bench.report import Row, Target

QUEUE_CLIENTS = 8


def through_worker(
    dep: Deployment, make_bulk: BodyMaker, posts: int, size: int, processes: int,
    timeout_s: float = 7200,
) -> float:  # fmt: skip
    """Stop the worker, queue posts x size events through the gateway, start the worker:
    events/s from its first canonical event out to the last."""
    dep.settle()
    events_topic, bootstrap = dep.topics.events, dep.settings.bootstrap()
    before = high_watermarks(bootstrap, events_topic)
    dep.stop_worker()
    loadgen.throughput(
        loadgen.Target(dep.url), make_bulk, posts, QUEUE_CLIENTS, processes, pregenerate=False
    )
    n = posts * size
    dep.start_worker()
    deadline = time.monotonic() + timeout_s
    first: float | None = None
    while (done := high_watermarks(bootstrap, events_topic) - before) < n:
        now = time.monotonic()
        if first is None and done > 0:
            first = now
        if now > deadline:
            raise TimeoutError(f"the worker handled {done} of {n} events in {timeout_s:.0f}s")
        time.sleep(0.05)
    return n / (time.monotonic() - (first or time.monotonic()) or 1e-9)


def no_rules(dep: Deployment, anchors: Anchors, events: int, processes: int, run: str) -> list[Row]:
    """The worker without rules (resolve + join + canonical emit) beside both anchors."""
    dep.settle()
    faust = anchors.faust_agent()
    loop = anchors.plain_loop()
    size = 500
    posts = max(1, events // size)
    rate = through_worker(dep, partial(bodies.bulk, run=run + "w", size=size), posts, size,
                          processes)  # fmt: skip
    print(
        f"worker, no rules     : {rate:8.0f} events/s ({posts * size} queued events, resolve + "
        f"join + canonical emit, {dep.settings.partitions} partitions); anchors: bare Faust "
        f"agent {faust:.0f}/s, plain loop {loop:.0f}/s",
        flush=True,
    )
    return [
        Row("worker, no rules", rate, "events/s", faust, "bare Faust agent",
            Target(at_least=8000)),
        Row("worker, no rules", rate, "events/s", loop, "plain loop"),
    ]  # fmt: skip
