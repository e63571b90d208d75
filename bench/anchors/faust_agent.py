"""Anchor: a bare Faust agent (faust-streaming) that only iterates and acks."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import time
import uuid
from typing import Any

import faust


def faust_agent(bootstrap: str, topic: str, n: int, partitions: int, datadir: str) -> float:
    """Events/s of one agent over the first n records of ``topic``, from its first event."""
    app = faust.App(
        f"anchor-faust-{uuid.uuid4().hex[:8]}",
        broker=f"kafka://{bootstrap}",
        store="memory://",
        web_enabled=False,
        topic_partitions=partitions,
        consumer_auto_offset_reset="earliest",
        datadir=datadir,
    )
    source = app.topic(topic, key_serializer="raw", value_serializer="raw")
    seen: dict[str, Any] = {"count": 0, "first": 0.0, "last": 0.0}

    @app.agent(source)
    async def count(stream: Any) -> None:
        async for _ in stream:  # acked by the stream once the next one is asked for
            seen["count"] += 1
            seen["first"] = seen["first"] or time.perf_counter()
            if seen["count"] == n:
                seen["last"] = time.perf_counter()
                os.kill(os.getpid(), signal.SIGTERM)  # the worker's own graceful stop

    # Its spinner goes to a buffer, not to the benchmark's output (kept open: Faust writes
    # to it again at exit).
    worker = faust.Worker(
        app, loglevel="error", quiet=True, redirect_stdouts=False, stdout=io.StringIO()
    )
    with contextlib.suppress(SystemExit):  # how a Faust worker returns
        worker.execute_from_commandline()
    if not seen["last"]:
        raise RuntimeError(f"faust agent stopped after {seen['count']} of {n} events")
    return float(n / (seen["last"] - seen["first"]))
