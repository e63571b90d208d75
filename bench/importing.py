"""``eventline import`` of a JSONL history, beside the gateway's bulk posts in the same run
(issue 13: an import runs at the gateway's bulk speed or better).

The export is written first (not timed); the command runs as a user runs it, in a process
of its own, and is timed from its start to its summary: reading, keying, sending and every
answer, with the progress bar drawn (to a pipe).

Its anchors post the same events, in the shape the import sends them (times, keys, backfill),
from the load generator's processes with every body built beforehand: in requests of 100 (the
bulk figure's size; the issue's target, import at bulk speed or better) and of 1,000 with 16
in flight (what the import sends: the stricter anchor). All three are timed with the worker
stopped, so that none pays for another's backlog (a worker busy with the first one's events
took a third of the cores from the next); the worker is started again afterwards, with the
backlog of all three."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import orjson

from bench import bodies, gateway, loadgen
from bench.anchors.runner import Anchors
from bench.deployment import Deployment
from bench.report import Row, Target


def write_export(path: Path, events: int, run: str) -> None:
    """A JSONL export of ``events`` events of the bench's shape, from the year 2021."""
    with open(path, "wb") as out:
        for i in range(events):
            event = bodies.event(i, run)
            event["occurred_at"] = f"2021-01-01T00:{(i // 60) % 60:02d}:{i % 60:02d}Z"
            out.write(orjson.dumps(event) + b"\n")


def import_phase(
    dep: Deployment, anchors: Anchors, events: int, bulk_posts: int, bulk_size: int,
    clients: int, procs: int, run: str, folder: Path,
) -> list[Row]:  # fmt: skip
    """events/s of ``eventline import`` beside the gateway's bulk posts, both timed here, on
    a gateway warmed up first (run alone, this part would otherwise time a cold one)."""
    warm = partial(bodies.bulk, run=run + "warm", size=bulk_size)
    loadgen.throughput(loadgen.Target(dep.url), warm, bulk_posts, clients, procs)
    bulk_rows = gateway.bulk_posts(dep, anchors, bulk_posts, bulk_size, clients, procs, run + "i")
    folder.mkdir(parents=True, exist_ok=True)
    export = folder / "history.jsonl"
    write_export(export, events, run + "i")
    dep.settle()
    dep.stop_worker()
    try:
        per_100 = _history_posts(dep, events, bulk_size, clients, procs, run + "h100")
        per_1000 = _history_posts(dep, events, IMPORT_BATCH, IMPORT_IN_FLIGHT, procs, run + "h")
        took, cpu = _run_import(dep, export, folder, events)
    finally:
        dep.start_worker()
    rate = events / took
    print(
        f"eventline import     : {rate:8.0f} events/s ({events} lines of JSONL in {took:.1f}s, "
        f"one process, worker stopped; its CPU: {cpu:.1f}s, {cpu / events * 1e6:.1f} µs a line)",
        flush=True,
    )
    return [
        *bulk_rows,
        Row("eventline import (JSONL)", rate, "events/s", per_100,
            f"bulk posts of {bulk_size}, same history", Target(min_ratio=1.0)),
        Row("eventline import (JSONL)", rate, "events/s", per_1000,
            f"bulk posts of {IMPORT_BATCH}, same history"),
    ]  # fmt: skip


def _history_posts(
    dep: Deployment, events: int, size: int, clients: int, procs: int, run: str
) -> float:
    """events/s of the history's ``events`` (as the import sends them) posted in bulk, ``size``
    a request, bodies built beforehand."""
    history = partial(bodies.history_bulk, run=run, size=size)
    posts = max(1, events // size)
    posted = loadgen.throughput(loadgen.Target(dep.url), history, posts, clients, procs)
    rate = posts * size / posted.seconds
    print(
        f"gateway bulk posts   : {rate:8.0f} events/s of the same history ({posts} posts of "
        f"{size}, {clients} clients in {procs} processes, {posted.seconds:.1f}s, bodies built "
        "beforehand, worker stopped)",
        flush=True,
    )
    return rate


IMPORT_BATCH = 1000  # eventline import's default --batch
IMPORT_IN_FLIGHT = 16  # and --in-flight


def _run_import(dep: Deployment, export: Path, folder: Path, events: int) -> tuple[float, float]:
    """Seconds ``eventline import`` took over ``export``, run as a user runs it, and the CPU
    seconds its process used."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTLINE_")}
    env["EVENTLINE_HOME"] = str(folder)
    command = [sys.executable, "-m", "eventline", "import", str(export), "--url", dep.url]
    cpu_before = _children_cpu()
    began = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    took = time.monotonic() - began
    cpu = _children_cpu() - cpu_before
    if done.returncode != 0 or f"{events} lines accepted" not in done.stdout:
        raise RuntimeError(f"the import failed: {done.stdout[-500:]} {done.stderr[-500:]}")
    return took, cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # children waited for
    return usage.ru_utime + usage.ru_stime
