"""Worker memory: RSS of the worker process once it holds ``contacts`` contacts with history,
sampled while events over those same contacts arrive at a steady rate (the contact count
stays put, so RSS should too)."""

from __future__ import annotations

import threading
import time
from functools import partial
from pathlib import Path

from bench import loadgen
from bench.automation import bulk, event
from bench.deployment import Deployment
from bench.report import Row, Target

SAMPLE_EVERY_S = 5.0
MIB = 1024 * 1024


def rss(pid: int) -> int:
    """Resident set size of process ``pid`` in bytes (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def memory_phase(
    dep: Deployment, contacts: int, rate: float, seconds: float, processes: int, run: str
) -> list[Row]:
    dep.settle()
    size = 500
    posts = max(1, contacts // size)
    loadgen.throughput(
        loadgen.Target(dep.url),
        partial(bulk, run=run + "m", size=size),
        posts,
        8,
        processes,
        pregenerate=False,
        timeout_s=86400,
    )
    dep.settle(timeout_s=86400)
    pid = dep.worker_pid()
    samples = [rss(pid)]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(SAMPLE_EVERY_S):
            samples.append(rss(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    steady = partial(_steady_event, run=run + "m", contacts=posts * size)
    loadgen.paced(loadgen.Target(dep.url), steady, int(rate * seconds), rate, processes)
    dep.settle()
    stop.set()
    sampler.join()
    samples.append(rss(pid))
    first, last = samples[0] / MIB, samples[-1] / MIB
    restarted = _restarted_rss(dep) / MIB
    print(
        f"worker memory        : RSS {first:.0f} MiB -> {last:.0f} MiB (min "
        f"{min(samples) / MIB:.0f}, max {max(samples) / MIB:.0f}, {len(samples)} samples "
        f"every {SAMPLE_EVERY_S:.0f}s) "
        f"with {posts * size:,} contacts with history, {rate:.0f} events/s over them for "
        f"{seconds:.0f}s; a worker started again on the same tables: {restarted:.0f} MiB "
        f"(no load since its start: what the tables and their index hold)",
        flush=True,
    )
    count = f"{posts * size:,} contacts"
    return [
        Row(f"worker RSS, {count} (end vs start)", last, "MiB", first, "RSS at start",
            Target(max_ratio=1.05)),
        Row(f"worker RSS, {count}, started again", restarted, "MiB"),
    ]  # fmt: skip


def _restarted_rss(dep: Deployment) -> int:
    """RSS of a new worker once its segment clock has restored and indexed every contact of
    its partitions (the table's own footprint, without what a burst of load left behind)."""
    dep.stop_worker()
    dep.start_worker(wait_ready=True)
    pid = dep.worker_pid()
    previous, still = rss(pid), 0
    while still < 3:  # restored when RSS has not moved by 1 MiB for three samples
        time.sleep(SAMPLE_EVERY_S / 2)
        now = rss(pid)
        still = still + 1 if abs(now - previous) < MIB else 0
        previous = now
    return previous


def _steady_event(i: int, run: str, contacts: int) -> dict[str, object]:
    # indices past the loading pass's: events of contacts that exist
    return event(contacts + i, run, contacts)
