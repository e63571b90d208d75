"""``python -m bench.worker_profile``: the worker under load, timed and optionally profiled.

Starts a broker and a pipeline of its own, stops the worker, queues N events through the
gateway in bulk, starts the worker again and prints its progress (events/s, RSS) until every
event's canonical event is out; with ``--py-spy FILE`` it records the worker with py-spy
(``--format raw``: summarise with any flame-graph tool). Run it under the broker lock on a
shared machine: ``flock /tmp/eventline-broker.lock .venv/bin/python -m bench.worker_profile``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from bench import automation, bodies, loadgen
from bench.common import high_watermarks
from bench.deployment import Deployment
from bench.memory import MIB, rss
from bench.procs import free_port, local_broker

BULK = 500


def new_contacts(i: int, run: str, size: int) -> list[dict[str, Any]]:
    """A bulk body of latency probes: each event a new contact."""
    return [bodies.probe(i * size + j, run) for j in range(size)]


def _py_spy() -> str:
    """py-spy beside this interpreter (a virtualenv's bin/), else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy not found: install it with `pip install py-spy`")
    return found


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", type=int, nargs="?", default=20_000)
    parser.add_argument("--rules", action="store_true", help="the benchmark's 20 rules")
    parser.add_argument("--new-contacts", action="store_true", help="each event a new contact")
    parser.add_argument("--py-spy", metavar="FILE", help="record the worker with py-spy")
    return parser.parse_args()


def _follow(dep: Deployment, before: int, total: int, started: float) -> None:
    bootstrap, topic, pid = dep.settings.bootstrap(), dep.topics.events, dep.worker_pid()
    first: float | None = None
    last = (time.monotonic(), 0)
    while (done := high_watermarks(bootstrap, topic) - before) < total:
        now = time.monotonic()
        if first is None and done:
            first = now
            print(f"first canonical event {now - started:.1f}s after the worker's start")
        if first is not None and now - last[0] >= 2:
            rate = (done - last[1]) / (now - last[0])
            print(f"  {done:>8} done, {rate:6.0f}/s, worker RSS {rss(pid) / MIB:.0f} MiB")
            last = (now, done)
        time.sleep(0.05)
    first = first or time.monotonic()
    elapsed = max(time.monotonic() - first, 1e-9)
    print(f"{total} events in {elapsed:.1f}s from the first one out: {total / elapsed:.0f}/s")


def main() -> None:
    args = _arguments()
    with tempfile.TemporaryDirectory(prefix="eventline-profile-") as tmp:
        home = Path(tmp)
        broker = local_broker(home / "kafka")
        bootstrap = broker.start()
        dep = Deployment(
            home / "eventline",
            bootstrap,
            "profile",
            gateway_port=free_port(),
            worker_metrics_port=free_port(),
            sink_metrics_port=free_port(),
        )
        try:
            dep.start()
            if args.rules:
                automation.put_rules(dep.url)
            dep.settle()
            before = high_watermarks(bootstrap, dep.topics.events)
            dep.stop_worker()
            posts = max(1, args.events // BULK)
            body = new_contacts if args.new_contacts else bodies.bulk
            loadgen.throughput(
                loadgen.Target(dep.url), partial(body, run="p", size=BULK), posts, 8, 2,
                pregenerate=False,
            )  # fmt: skip
            started = time.monotonic()
            dep.start_worker()
            spy = None
            if args.py_spy:
                command = [_py_spy(), "record", "--nonblocking"]
                command += ["-p", str(dep.worker_pid()), "-r", "100", "-f", "raw"]
                spy = subprocess.Popen([*command, "-o", args.py_spy])
            _follow(dep, before, posts * BULK, started)
            if spy is not None:
                spy.send_signal(2)  # py-spy writes its file on SIGINT
                spy.wait(30)
        finally:
            dep.stop()
            broker.stop()


if __name__ == "__main__":
    main()
