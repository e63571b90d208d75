"""``python -m bench``: eventline's figures beside their anchors, measured in the same run.

Starts its own broker (free ports, temporary data) and a local pipeline
(eventline.processes.pipeline) on it, runs each anchor in a process of its own right before the
figure it anchors, drives every HTTP server with the same load generator (processes of its own), and
ends with one table: figure | eventline | anchor | ratio | target. bench/README.md says what each
line is.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path

from bench import automation, gateway, importing, kill, latency, memory, sink, worker
from bench.anchors.runner import Anchors
from bench.anchors.runner import Sizes as AnchorSizes
from bench.common import run_id
from bench.deployment import Deployment
from bench.procs import free_port, local_broker
from bench.report import Row, table
from eventline.core.settings import Settings

PARTS = ("pipeline", "automation", "kill", "memory", "import")


@dataclass
class Sizes:
    single: int = 10_000
    bulk: int = 500
    bulk_size: int = 100
    bulk_clients: int = 8
    worker_events: int = 50_000
    latency_rate: float = 1000.0
    latency_seconds: float = 60.0
    contacts: int = 100_000
    rules_events: int = 50_000
    kill_events: int = 50_000
    kill_contacts: int = 10_000
    memory_contacts: int = 1_000_000
    memory_seconds: float = 60.0
    produced: int = 200_000
    consumed: int = 50_000
    inserted: int = 200_000
    imported: int = 1_000_000


QUICK = Sizes(
    single=6_000,  # 1,500 posts took 2 s: mostly the gateway warming up
    bulk=300,  # 40 posts were over before the gateway was warm
    worker_events=20_000,  # timed from the first event out: 3,000 were one batch after it
    latency_seconds=2.0,
    contacts=1_000,
    rules_events=5_000,
    kill_events=2_000,
    kill_contacts=500,
    memory_contacts=20_000,
    memory_seconds=15.0,
    produced=50_000,
    consumed=20_000,
    inserted=50_000,
    imported=50_000,
)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="small sizes: under 3 minutes")
    parser.add_argument("--only", choices=PARTS, action="append", help="these parts only")
    parser.add_argument("--memory", action="store_true", help="the memory phase in --quick too")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory phase")
    parser.add_argument("--load-processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--partitions", type=int, default=None, help="EVENTLINE_PARTITIONS")
    for field in fields(Sizes):
        flag = "--" + field.name.replace("_", "-")
        parser.add_argument(flag, type=type(field.default), default=None, help=f"size: {flag}")
    return parser.parse_args()


def _sizes(args: argparse.Namespace) -> Sizes:
    sizes = replace(QUICK) if args.quick else Sizes()
    for field in fields(Sizes):
        if getattr(args, field.name) is not None:
            setattr(sizes, field.name, getattr(args, field.name))
    return sizes


def _parts(args: argparse.Namespace) -> set[str]:
    parts = set(args.only or PARTS)
    if (args.quick and not args.memory and not args.only) or args.no_memory:
        parts.discard("memory")
    return parts


def _phase(rows: list[Row], failed: list[str], name: str, fn: Callable[[], list[Row]]) -> None:
    """Run one phase; a phase that fails is reported and the others still run."""
    started = time.monotonic()
    try:
        rows.extend(fn())
        print(f"  ({name}: {time.monotonic() - started:.0f}s with its anchors)", flush=True)
    except Exception:
        traceback.print_exc()
        print(f"{name}: FAILED (above)", flush=True)
        failed.append(name)
        rows.append(Row(name, None, ""))


def main() -> int:
    args = _arguments()
    sizes, parts, procs = _sizes(args), _parts(args), args.load_processes
    run = run_id()
    began = time.monotonic()
    base = Settings()
    with tempfile.TemporaryDirectory(prefix="eventline-bench-") as tmp:
        home = Path(tmp)
        broker = local_broker(home / "kafka")
        bootstrap = broker.start()
        overrides = {"partitions": args.partitions} if args.partitions else {}
        dep = Deployment(
            home / "eventline",
            bootstrap,
            f"bench-{run}",
            gateway_port=free_port(),
            worker_metrics_port=free_port(),
            sink_metrics_port=free_port(),
            sink_batch_wait_s=0.1,
            **overrides,
        )
        anchors = Anchors(
            bootstrap,
            f"anchor-{run}",
            dep.settings.partitions,
            home / "anchors",
            AnchorSizes(sizes.produced, sizes.consumed, sizes.inserted),
        )
        rows: list[Row] = []
        failed: list[str] = []
        try:
            dep.start()
            print(
                f"eventline bench {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC "
                f"({'quick' if args.quick else 'full'} run): Kafka {base.kafka_version} local "
                f"broker, {dep.settings.partitions} partitions, embedded ClickHouse, load "
                f"generator in {procs} processes; parts: {', '.join(sorted(parts))} (ready after "
                f"{time.monotonic() - began:.0f}s)",
                flush=True,
            )
            _pipeline(dep, anchors, sizes, procs, run, parts, rows, failed, home)
            if "automation" in parts:
                _phase(
                    rows,
                    failed,
                    "worker, 20 rules",
                    lambda: automation.rules_worker(
                        dep, anchors, sizes.contacts, sizes.rules_events, procs, run, not args.quick
                    ),
                )
                _phase(
                    rows,
                    failed,
                    "202 -> trigger",
                    lambda: [
                        latency.trigger_latency(
                            dep,
                            sizes.latency_rate,
                            sizes.latency_seconds,
                            procs,
                            run,
                            automation.put_rules(dep.url),
                        )
                    ],
                )
            if "kill" in parts:
                automation.put_rules(dep.url)
                _phase(
                    rows,
                    failed,
                    "kill phase",
                    lambda: kill.kill_phase(
                        dep, sizes.kill_events, sizes.kill_contacts, procs, run
                    ),
                )
            if "memory" in parts:
                automation.put_rules(dep.url)
                _phase(
                    rows,
                    failed,
                    "worker memory",
                    lambda: memory.memory_phase(
                        dep,
                        sizes.memory_contacts,
                        sizes.latency_rate,
                        sizes.memory_seconds,
                        procs,
                        run,
                    ),
                )
            if "import" in parts:  # last: the worker is left a backlog of imported events
                _phase(
                    rows,
                    failed,
                    "eventline import",
                    lambda: importing.import_phase(
                        dep,
                        anchors,
                        sizes.imported,
                        sizes.bulk,
                        sizes.bulk_size,
                        sizes.bulk_clients,
                        procs,
                        run,
                        home / "import",
                    ),
                )
        finally:
            dep.stop()
            broker.stop()
    print(f"\n{time.monotonic() - began:.0f}s in all\n")
    print(table(rows), flush=True)
    return 1 if failed else 0


def _pipeline(
    dep: Deployment,
    anchors: Anchors,
    sizes: Sizes,
    procs: int,
    run: str,
    parts: set[str],
    rows: list[Row],
    failed: list[str],
    home: Path,
) -> None:
    if "pipeline" not in parts:
        return
    _phase(
        rows,
        failed,
        "gateway single posts",
        lambda: gateway.single_posts(dep, anchors, sizes.single, procs, run),
    )
    _phase(
        rows,
        failed,
        "gateway bulk posts",
        lambda: gateway.bulk_posts(
            dep, anchors, sizes.bulk, sizes.bulk_size, sizes.bulk_clients, procs, run
        ),
    )
    _phase(
        rows,
        failed,
        "worker, no rules",
        lambda: worker.no_rules(dep, anchors, sizes.worker_events, procs, run),
    )
    _phase(
        rows,
        failed,
        "202 -> ClickHouse row",
        lambda: [latency.row_latency(dep, sizes.latency_rate, sizes.latency_seconds, procs, run)],
    )
    _phase(rows, failed, "sink", lambda: sink.replay(dep, anchors, home / "replay"))


if __name__ == "__main__":
    sys.exit(main())
