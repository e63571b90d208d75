"""eventline under test, seen only through its public surfaces: eventline.processes.pipeline
(whatever processes it starts), the gateway's URL, Kafka topics and groups, ClickHouse.

The one place that knows how the pipeline is started and how its worker is stopped, killed
and restarted, so the benchmark follows when those internals change."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from bench.common import group_lag, wait_until
from eventline.core.settings import Settings
from eventline.core.topics import Topics
from eventline.processes.pipeline import Pipeline, WorkerProcess


class Deployment:
    """A local pipeline on an already running broker, with its own topics and ClickHouse."""

    def __init__(self, home: Path, bootstrap: str, prefix: str, **overrides: Any) -> None:
        self.settings = Settings(
            home=home,
            kafka_bootstrap=bootstrap,
            topic_prefix=prefix,
            **overrides,
        )
        self.topics = Topics(prefix)
        self.pipeline = Pipeline(self.settings)

    def start(self) -> None:
        self.pipeline.start()

    def stop(self) -> None:
        self.pipeline.stop(stop_kafka=False)

    @property
    def url(self) -> str:
        gateway = self.pipeline.gateway
        if gateway is not None:
            return str(gateway.url)
        return f"http://{self.settings.gateway_host}:{self.settings.gateway_port}"

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows of ``sql`` in the pipeline's ClickHouse (``{db}`` is its database)."""
        store = self.pipeline.store
        if store is None:
            raise RuntimeError("the pipeline has no ClickHouse store in this process")
        return store.query(sql, parameters)

    # --- the worker ---------------------------------------------------------------------
    def worker_pid(self) -> int:
        worker = self.pipeline.worker
        if worker is None or worker.proc is None:
            raise RuntimeError("the pipeline runs no worker")
        return int(worker.proc.pid)

    def stop_worker(self) -> None:
        """Stop the worker as an operator would (SIGTERM, a graceful stop)."""
        if self.pipeline.worker is not None:
            self.pipeline.worker.stop()

    def kill_worker(self) -> None:
        """SIGKILL the worker process: nothing of it runs after this returns."""
        worker = self.pipeline.worker
        if worker is None or worker.proc is None:
            return
        os.kill(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait()

    def start_worker(self, wait_ready: bool = False) -> None:
        """Start a new worker process (it resumes from its group's committed offsets)."""
        self.pipeline.worker = WorkerProcess(self.settings)
        self.pipeline.worker.start()
        if wait_ready:
            self.pipeline.worker.wait_ready()

    # --- progress, read from Kafka ------------------------------------------------------
    def worker_lag(self) -> int:
        """Records the worker has not handled yet (its group's lag on its inputs)."""
        return group_lag(
            self.settings.bootstrap(), self.topics.worker_app_id, self.topics.worker_inputs()
        )

    def sink_lag(self) -> int:
        """Records the sink has not written yet (its group's lag on what it sinks)."""
        return group_lag(
            self.settings.bootstrap(), self.topics.sink_group, self.topics.sink_inputs()
        )

    def settle(self, timeout_s: float = 1800) -> None:
        """Wait until the worker and the sink have handled everything queued so far."""
        wait_until(lambda: self.worker_lag() == 0, timeout_s, "worker catch-up")
        wait_until(lambda: self.sink_lag() == 0, timeout_s, "sink catch-up")
