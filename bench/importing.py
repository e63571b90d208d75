"""``eventline import`` of a JSONL history, beside the gateway's bulk posts in the same run
(issue 13: an import runs at the gateway's bulk speed or better).

The export is written first (not timed); the command runs as a user runs it, in a process
of its own, and is timed from its start to its summary: reading, keying, sending and every
answer, with the progress bar drawn (to a pipe)."""

from __future__ import annotations

import os
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
    bulk = bulk_rows[0].value or 0.0
    folder.mkdir(parents=True, exist_ok=True)
    export = folder / "history.jsonl"
    write_export(export, events, run + "i")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTLINE_")}
    env["EVENTLINE_HOME"] = str(folder)
    command = [sys.executable, "-m", "eventline", "import", str(export), "--url", dep.url]
    began = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    took = time.monotonic() - began
    if done.returncode != 0 or f"{events} lines accepted" not in done.stdout:
        raise RuntimeError(f"the import failed: {done.stdout[-500:]} {done.stderr[-500:]}")
    rate = events / took
    print(
        f"eventline import     : {rate:8.0f} events/s ({events} lines of JSONL in {took:.1f}s, "
        f"one process); anchor: gateway bulk posts {bulk:.0f} events/s in this run",
        flush=True,
    )
    return [
        *bulk_rows,
        Row("eventline import (JSONL)", rate, "events/s", bulk, "gateway bulk posts",
            Target(min_ratio=1.0)),
    ]  # fmt: skip
