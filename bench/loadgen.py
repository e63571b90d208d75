"""The load generator: HTTP clients in processes of their own (never the server's interpreter).

Two ways to load a server, both with keep-alive connections (bench.httpclient):
- ``throughput``: n requests as fast as ``concurrency`` clients can send them, one request in
  flight per client, split over ``processes`` client processes; requests/s over the whole run.
- ``paced``: n requests at ``rate``/s (open loop: request i is due at start + i/rate whether
  or not earlier answers came back), each answer's event id and the monotonic time of its
  202, for the latency phases. Linux's monotonic clock is one clock for every process.

Bodies come from ``make_body(i)``, a module-level function (or a functools.partial of one) so
that it reaches a spawned process; they are built before the clock starts unless
``pregenerate`` is false (a load too large to hold).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench.httpclient import HttpConnection
from bench.procs import collect

BodyMaker = Callable[[int], Any]
OK = frozenset({200, 201, 202, 207})


@dataclass(frozen=True)
class Target:
    """Where the load goes: a base URL, a path, extra headers (an account, a key)."""

    url: str
    path: str = "/v1/events"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Throughput:
    requests: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Paced:
    acks: dict[str, float]  # event id -> monotonic time of its 202
    seconds: float  # from the first request due to the last answer

    @property
    def rate(self) -> float:
        return len(self.acks) / self.seconds if self.seconds > 0 else 0.0


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dev dependency
        return asyncio.run(coro)
    return uvloop.run(coro)


def _bodies(make_body: BodyMaker, indices: range, pregenerate: bool) -> Any:
    if pregenerate:
        return [orjson.dumps(make_body(i)) for i in indices]
    return (orjson.dumps(make_body(i)) for i in indices)


class _Failures:
    """Answers other than 2xx: counted by status, the first one kept to explain them."""

    def __init__(self) -> None:
        self.by_status: Counter[int] = Counter()
        self.sample = ""

    def check(self, status: int, body: bytes) -> None:
        if status not in OK:
            self.by_status[status] += 1
            self.sample = self.sample or body[:300].decode(errors="replace")

    def raise_if_any(self, what: str) -> None:
        if self.by_status:
            raise RuntimeError(f"{what}: answers {dict(self.by_status)}, e.g. {self.sample}")


async def _send_all(target: Target, bodies: Any, concurrency: int) -> tuple[float, float]:
    failures = _Failures()
    source = iter(bodies)

    async def client() -> None:
        conn = HttpConnection(target.url, target.headers)
        try:
            for body in source:  # one shared iterator: each body is sent once
                failures.check(*await conn.post(target.path, body))
        finally:
            conn.close()

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    failures.raise_if_any(f"POST {target.path}")
    return started, time.monotonic()


def _throughput_process(
    target: Target,
    make_body: BodyMaker,
    indices: range,
    concurrency: int,
    pregenerate: bool,
    barrier: Any,
    out: Any,
) -> None:
    bodies = _bodies(make_body, indices, pregenerate)
    barrier.wait()
    out.put(_run(_send_all(target, bodies, concurrency)))


def throughput(
    target: Target,
    make_body: BodyMaker,
    n: int,
    concurrency: int,
    processes: int = 1,
    pregenerate: bool = True,
    timeout_s: float = 3600,
) -> Throughput:
    """Send n requests with ``concurrency`` clients split over ``processes`` processes."""
    processes = max(1, min(processes, concurrency, n))
    shares = [concurrency // processes + (p < concurrency % processes) for p in range(processes)]
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(processes), ctx.Queue()
    procs = [
        ctx.Process(
            target=_throughput_process,
            args=(target, make_body, range(p, n, processes), shares[p], pregenerate, barrier, out),
            daemon=True,
        )
        for p in range(processes)
    ]
    spans = collect(procs, out, timeout_s, "load generator")
    return Throughput(n, max(end for _, end in spans) - min(start for start, _ in spans))


async def _send_paced(
    target: Target, bodies: list[bytes], due: list[float], concurrency: int, progress: Any
) -> tuple[dict[str, float], float]:
    failures = _Failures()
    pool: asyncio.Queue[HttpConnection] = asyncio.Queue()
    for _ in range(concurrency):
        pool.put_nowait(HttpConnection(target.url, target.headers))
    acks: dict[str, float] = {}

    async def send(conn: HttpConnection, body: bytes) -> None:
        try:
            status, answer = await conn.post(target.path, body)
            at = time.monotonic()
            failures.check(status, answer)
            if status in OK:
                event_id = orjson.loads(answer)["event_id"]
                acks[event_id] = at
                if progress is not None:  # a watcher in the parent follows the acks live
                    progress.put((event_id, at))
        finally:
            pool.put_nowait(conn)

    tasks = []
    for body, at in zip(bodies, due, strict=True):
        delay = at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        conn = await pool.get()  # every client busy: this request goes out late
        tasks.append(asyncio.ensure_future(send(conn, body)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait().close()
    failures.raise_if_any(f"POST {target.path}")
    return acks, time.monotonic()


def _paced_process(
    target: Target,
    make_body: BodyMaker,
    indices: range,
    rate: float,
    concurrency: int,
    progress: Any,
    barrier: Any,
    out: Any,
) -> None:
    bodies = [orjson.dumps(make_body(i)) for i in indices]
    barrier.wait()
    start = time.monotonic() + 0.05
    due = [start + i / rate for i in indices]
    acks, ended = _run(_send_paced(target, bodies, due, concurrency, progress))
    out.put((acks, start, ended))


def paced(
    target: Target,
    make_body: BodyMaker,
    n: int,
    rate: float,
    processes: int = 1,
    concurrency: int = 64,
    timeout_s: float = 3600,
    progress: Any = None,
) -> Paced:
    """Send n single events at ``rate``/s in all, from ``processes`` processes; each
    (event id, 202 time) is also put on the ``progress`` queue when one is given."""
    processes = max(1, min(processes, n))
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(processes), ctx.Queue()
    procs = [
        ctx.Process(
            target=_paced_process,
            args=(
                target,
                make_body,
                range(p, n, processes),
                rate,
                concurrency,
                progress,
                barrier,
                out,
            ),
            daemon=True,
        )
        for p in range(processes)
    ]
    results = collect(procs, out, timeout_s, "paced load generator")
    acks: dict[str, float] = {}
    for part, _, _ in results:
        acks.update(part)
    started = min(s for _, s, _ in results)
    return Paced(acks, max(e for _, _, e in results) - started)
