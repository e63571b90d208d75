"""Processes of the benchmark: each anchor and each load generator runs in a spawned process
of its own (spawn, not fork: the parent holds librdkafka threads and an embedded ClickHouse)."""

from __future__ import annotations

import multiprocessing as mp
import queue
import socket
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eventline.core.settings import Settings
from eventline.processes.broker import LocalKafka


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def collect(procs: list[Any], out: Any, timeout_s: float, what: str) -> list[Any]:
    """Start ``procs``, gather one result each from ``out``; fail if one dies or is late."""
    for proc in procs:
        proc.start()
    results: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(results) < len(procs):
            try:
                result = out.get(timeout=0.5)
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{what}: no result in {timeout_s:.0f}s") from None
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(
                        f"{what}: a process exited with {dead[0].exitcode}"
                    ) from None
                continue
            if isinstance(result, _Failed):
                raise RuntimeError(f"{what} failed:\n{result.text}")
            results.append(result)
    finally:
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join()
    return results


class _Failed:
    def __init__(self, text: str) -> None:
        self.text = text


def _call(fn: Callable[..., Any], args: tuple[Any, ...], out: Any) -> None:
    try:
        out.put(fn(*args))
    except BaseException:
        out.put(_Failed(traceback.format_exc()))


def call(fn: Callable[..., Any], *args: Any, timeout_s: float = 900) -> Any:
    """``fn(*args)`` in a spawned process; its result (``fn`` must be module-level)."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_call, args=(fn, args, out), daemon=True)
    return collect([proc], out, timeout_s, getattr(fn, "__qualname__", "process"))[0]


@contextmanager
def serving(fn: Callable[..., Any], *args: Any, port: int, timeout_s: float = 60) -> Iterator[str]:
    """Run the server ``fn(*args)`` in a spawned process until the block ends; its base URL
    once ``port`` accepts connections."""
    proc = mp.get_context("spawn").Process(target=fn, args=args, daemon=True)
    proc.start()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.exitcode is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server on port {port} did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join()


def local_broker(root: Path) -> LocalKafka:
    """A Kafka broker of the benchmark's own under ``root`` (free ports, the pinned jars);
    not started."""
    base = Settings()
    return LocalKafka(
        root=root,
        version=base.kafka_version,
        port=free_port(),
        controller_port=free_port(),
        jars=LocalKafka.from_settings(base).libs,
    )
