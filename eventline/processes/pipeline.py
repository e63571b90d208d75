"""The whole local pipeline in one place: broker, topics, ClickHouse, sink, worker, gateway.

Process layout (chDB allows one engine per process, so one process owns it):
- this process: the ClickHouse sink (a thread), the Store, and the store link that serves the
  Store to the gateway processes (``eventline.sinks.store_link``, loopback, keyed);
- EVENTLINE_GATEWAY_PROCESSES child processes: the gateway, all on one listening socket
  (``eventline.processes.gateways``), each with its own Kafka producer; their read APIs go
  through the store link (with a ClickHouse server, each has a client of its own);
- a child process: the Faust worker (it only talks to Kafka);
- a child process: the local Kafka broker, when no EVENTLINE_KAFKA_BOOTSTRAP is set.
So requests never wait behind the sink's inserts or the worker in one interpreter.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import HTTPServer
from pathlib import Path

from confluent_kafka.admin import AdminClient
from prometheus_client import start_http_server

from eventline.core.children import WATCH_PARENT
from eventline.core.errors import EventlineError
from eventline.core.settings import Settings, settings_env
from eventline.core.topics import Topics, admin_client, ensure_topics
from eventline.processes.broker import LocalKafka
from eventline.processes.gateways import GatewayProcesses, listening_socket
from eventline.processes.home_lock import HomeLock
from eventline.producers.gateway.serving import check_exposure
from eventline.schemas.accounts.service import Accounts
from eventline.sinks.sink import ClickHouseSink
from eventline.sinks.store import Store, open_store, where
from eventline.sinks.store_link import StoreServer

log = logging.getLogger(__name__)


class WorkerProcess:
    """The Faust worker as a child process (``python -m eventline.streams``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = settings.home.resolve() / "worker.log"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **settings_env(self.settings), "PYTHONUNBUFFERED": "1"}
        env[WATCH_PARENT] = "1"
        with open(self.log_path, "ab") as out:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "eventline.streams"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Wait until the worker's consumer group is stable with every partition assigned."""
        group = Topics(self.settings.topic_prefix).worker_app_id
        admin = admin_client(self.settings.bootstrap())
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise EventlineError(
                    f"worker exited with {self.proc.returncode}; see {self.log_path}"
                )
            if _group_stable(admin, group):
                return
            time.sleep(0.5)
        raise EventlineError(f"worker not ready after {timeout_s:.0f}s; see {self.log_path}")

    def stop(self, timeout_s: float = 30.0, kill: bool = False) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def serve_metrics(port: int) -> HTTPServer | None:
    """This process's Prometheus metrics on 127.0.0.1:``port``; None (and a warning) when the
    port is taken: metrics are not worth refusing to run for."""
    try:
        server, _thread = start_http_server(port, addr="127.0.0.1")
    except OSError as exc:
        log.warning("sink metrics not served on port %s: %s", port, exc)
        return None
    return server


def _group_stable(admin: AdminClient, group: str) -> bool:
    try:
        described = admin.describe_consumer_groups([group])[group].result(timeout=5)
    except Exception:
        return False
    state = str(getattr(described, "state", "")).upper()
    return "STABLE" in state and bool(described.members)


Say = Callable[[str], None]


def _quiet(_line: str) -> None:
    pass


class Pipeline:
    """Start and stop every part of a pipeline, in dependency order. It owns exactly what it
    starts: a failed start stops every part started so far, and a broker that was already
    running (``eventline kafka start``) is left running."""

    def __init__(self, settings: Settings, *, with_worker: bool = True) -> None:
        self.settings = settings
        self.kafka = LocalKafka.from_settings(settings) if settings.uses_local_kafka else None
        self.owns_kafka = False  # True once this pipeline started the local broker
        self.home_lock = HomeLock(settings.home)
        self.restarts = Backoff()
        self.worker = WorkerProcess(settings) if with_worker else None
        self.store: Store | None = None
        self.sink: ClickHouseSink | None = None
        self.sink_thread: threading.Thread | None = None
        self.gateway: GatewayProcesses | None = None
        self.store_link: StoreServer | None = None
        self.accounts: Accounts | None = None  # the sink's view of erased event types
        self.metrics: HTTPServer | None = None  # this process's (the sink's) metrics

    def start(self, say: Say = _quiet) -> None:
        """Start every part, saying each stage; on any failure stop what was started."""
        check_exposure(self.settings)  # before anything starts: an unsafe gateway never serves
        self.home_lock.acquire("eventline up")
        try:
            self._start(say)
        except BaseException:
            self.stop()
            raise

    def _start(self, say: Say) -> None:
        # The port first: a taken one fails before anything else was started.
        sock = listening_socket(self.settings)
        self.gateway = GatewayProcesses(self.settings, sock=sock)
        if self.kafka is not None:
            self.owns_kafka = self.kafka.pid() is None
            say(f"Kafka: {'starting' if self.owns_kafka else 'already running'} on "
                f"{self.kafka.bootstrap} (data in {self.kafka.data})")  # fmt: skip
            self.kafka.start()
        say(f"topics on {self.settings.bootstrap()}")
        ensure_topics(self.settings)
        say(where(self.settings))
        self.store = open_store(self.settings)
        self.accounts = Accounts(self.settings)
        self.accounts.start()
        self.sink = ClickHouseSink(
            self.settings, self.store, erased=self.accounts.erased_event_types
        )
        self.sink_thread = threading.Thread(target=self.sink.run, name="sink", daemon=True)
        self.sink_thread.start()
        self.metrics = serve_metrics(self.settings.sink_metrics_port)
        if self.worker is not None:
            say(f"worker (log: {self.worker.log_path})")
            self.worker.start()
        self.store_link = StoreServer(self.store)
        self.store_link.start()
        say(f"gateway: {self.settings.gateway_processes} processes on {self.gateway.url}")
        self.gateway.env = self.store_link.env()
        self.gateway.start()
        if self.worker is not None:
            say("waiting for the worker to own its partitions")
            self.worker.wait_ready()

    def run_until_signal(self) -> None:
        """Block until SIGINT (Ctrl-C) or SIGTERM, then stop every part. A worker that exits
        on its own is started again (it resumes from its committed offsets)."""
        stop = threading.Event()
        try:
            # Re-armed every second: the embedded ClickHouse engine installs its own SIGINT
            # handler (query cancellation) while it runs queries, which would swallow Ctrl-C.
            while not stop.is_set():
                for signum in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(signum, lambda *_: stop.set())
                stop.wait(1.0)
                if not stop.is_set():
                    self._restart_worker_if_dead()
                    if self.gateway is not None:
                        self.gateway.restart_dead()
        finally:
            print("stopping...", flush=True)
            self.stop()

    def _restart_worker_if_dead(self) -> None:
        proc = self.worker.proc if self.worker is not None else None
        if proc is None or proc.poll() is None:
            self.restarts.running(time.monotonic())
            return
        assert self.worker is not None
        now = time.monotonic()
        if not self.restarts.due(now):
            return
        delay = self.restarts.failed(now)
        why = last_error_line(self.worker.log_path)
        log.error("the worker exited with %s: %s", proc.returncode, why)
        print(
            f"worker exited ({proc.returncode}): {why}\n  starting it again; the next restart "
            f"waits {delay:.0f}s if it fails again (log: {self.worker.log_path})",
            flush=True,
        )
        self.worker = WorkerProcess(self.settings)
        self.worker.start()

    def stop(self, *, stop_kafka: bool = True) -> None:
        if self.gateway is not None:
            self.gateway.stop()
        if self.store_link is not None:
            self.store_link.stop()
        if self.worker is not None:
            self.worker.stop()
        if self.sink is not None and self.sink_thread is not None:
            self.sink.stop()
            self.sink_thread.join(timeout=30)
        if self.accounts is not None:
            self.accounts.stop()
        if self.metrics is not None:
            self.metrics.shutdown()
            self.metrics.server_close()
            self.metrics = None
        if self.kafka is not None and stop_kafka and self.owns_kafka:
            self.kafka.stop()
            self.owns_kafka = False
        self.home_lock.release()


class Backoff:
    """Waits between restarts of a child that keeps failing: 1 s, doubled up to 60 s, back to
    1 s once a start has run for a minute."""

    def __init__(self, first_s: float = 1.0, most_s: float = 60.0) -> None:
        self.first_s, self.most_s = first_s, most_s
        self.delay_s = 0.0
        self.not_before = 0.0
        self.started_at: float | None = None

    def due(self, now: float) -> bool:
        return now >= self.not_before

    def failed(self, now: float) -> float:
        """Record a failure at ``now``; the wait before the restart after this one."""
        if self.started_at is not None and now - self.started_at >= self.most_s:
            self.delay_s = 0.0  # it ran fine for a while: this failure is a new story
        self.delay_s = min(self.most_s, max(self.first_s, self.delay_s * 2))
        self.not_before = now + self.delay_s
        self.started_at = now
        return self.delay_s

    def running(self, now: float) -> None:
        if self.started_at is None:
            self.started_at = now


def last_error_line(log_path: Path, tail_bytes: int = 20_000) -> str:
    """The last line of a child's log that looks like the reason it stopped."""
    try:
        with open(log_path, "rb") as log_file:
            log_file.seek(0, os.SEEK_END)
            log_file.seek(max(0, log_file.tell() - tail_bytes))
            lines = log_file.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return "no log"
    for line in reversed(lines):
        text = line.strip()
        if text and ("Error" in text or "error" in text or "Exception" in text):
            return text[:300]
    return next((line.strip()[:300] for line in reversed(lines) if line.strip()), "no log")
