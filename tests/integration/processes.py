"""Pipeline parts as processes of their own, for fault tests: start them, SIGKILL them, start
them again, and watch their consumer groups.

- ``OwnBroker``: a local Kafka broker of a test's own (free ports, a tmp folder) that can be
  killed and started again on the same data and ports without disturbing other tests.
- ``CliProcess`` (``SinkProcess``, ``GatewayProcess``): ``eventline sink`` / ``gateway`` run as
  users run them; the worker is ``eventline.processes.pipeline.WorkerProcess``.
- ``GroupProbe``: committed offsets of a consumer group against the log ends: the lag that
  proves a process has work in hand, and that it has caught up.
- ``query_clickhouse``: read ClickHouse from a process of its own. chDB allows one engine per
  process and one process per data folder, and the test process already owns one, so a sink
  process's embedded folder is read by a short child process once that sink has stopped.
  (``python -m tests.integration.processes`` is that child: queries on stdin, rows on stdout.)
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Consumer, KafkaException, TopicPartition

from eventline.core.settings import Settings, settings_env
from eventline.processes.broker import LocalKafka

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free loopback port never handed out before in this run: the kernel may offer a port
    again once its probe socket is closed, and two servers on one port fail at start."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def child_env(settings: Settings) -> dict[str, str]:
    """The environment of a child process: ours without EVENTLINE_* (a variable of the shell
    that settings leave unset, e.g. a ClickHouse URL, must not leak in), plus the settings."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("EVENTLINE_")}
    return {**inherited, **settings_env(settings)}


class OwnBroker:
    """A local single-node broker in ``root`` on free ports; ``kill`` is SIGKILL, and ``start``
    after it brings the same broker back (same data folder, same ports)."""

    def __init__(self, root: Path, heap: str = "384m") -> None:
        defaults = LocalKafka.from_settings(Settings())  # shares the jar cache of `make kafka`
        self.kafka = LocalKafka(
            root=root,
            version=defaults.version,
            port=free_port(),
            controller_port=free_port(),
            heap=heap,
            jars=defaults.libs,
        )

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap

    def start(self, timeout_s: float = 90.0) -> str:
        return self.kafka.start(timeout_s)

    def kill(self, timeout_s: float = 30.0) -> None:
        """SIGKILL the broker: no controlled shutdown, the next start recovers its logs."""
        pid = self.kafka.pid()
        assert pid is not None, "the broker is not running"
        os.kill(pid, signal.SIGKILL)
        _wait_for(lambda: self.kafka.pid() is None, timeout_s, "the killed broker to exit")

    def stop(self) -> None:
        self.kafka.stop()


class CliProcess:
    """``eventline <command>`` as a child process with the settings' environment, run from
    this checkout (so its code is the one under test); output in ``<home>/<command>.log``."""

    command = ""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = settings.home.resolve() / f"{self.command}.log"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**child_env(self.settings), "PYTHONUNBUFFERED": "1"}
        with open(self.log_path, "ab") as out:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from eventline.cli import app; app()", self.command],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=PROJECT_ROOT,
            )

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no final commit, the group keeps the dead member until
        its session times out."""
        assert self.proc is not None and self.alive, f"{self.command} is not running"
        self.proc.kill()
        self.proc.wait(30)

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM and wait; SIGKILL when it does not exit in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


class SinkProcess(CliProcess):
    """``eventline sink``: the ClickHouse sink in its own process (with embedded chDB, it owns
    ``<home>/clickhouse``)."""

    command = "sink"

    @property
    def group(self) -> str:
        # ClickHouseSink's default group id; tests check that the group has a member, so a
        # rename fails loudly instead of probing an empty group.
        return f"{self.settings.topic_prefix}-clickhouse-sink"


class GatewayProcess(CliProcess):
    """``eventline gateway``: the HTTP gateway in its own process (no read endpoints with
    embedded chDB: it owns no ClickHouse)."""

    command = "gateway"

    @property
    def url(self) -> str:
        return f"http://{self.settings.gateway_host}:{self.settings.gateway_port}"

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        def answers() -> bool:
            assert self.alive, f"gateway exited:\n{self.log_tail()}"
            try:
                return httpx.get(f"{self.url}/health", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        _wait_for(answers, timeout_s, f"the gateway on {self.url}")


class GroupProbe:
    """Committed offsets of ``group`` on ``topics`` against their log ends. It never joins the
    group (it only fetches offsets), so it does not disturb the members."""

    def __init__(self, bootstrap: str, group: str, topics: list[str]) -> None:
        self.group = group
        self.topics = topics
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "enable.auto.commit": False,
                # Into Python logging: while a killed broker is down, librdkafka would write
                # a connection error every 50 ms straight to stderr.
                "logger": logging.getLogger("librdkafka"),
            }
        )
        self._partitions: list[TopicPartition] = []

    def positions(self, timeout_s: float = 5.0) -> dict[tuple[str, int], tuple[int | None, int]]:
        """(topic, partition) -> (committed offset or None, log end); raises KafkaException
        when the broker or the group's coordinator does not answer."""
        if not self._partitions:
            meta = self._consumer.list_topics(timeout=timeout_s).topics
            self._partitions = [
                TopicPartition(t, p) for t in self.topics for p in sorted(meta[t].partitions)
            ]
        found = {}
        for tp in self._consumer.committed(self._partitions, timeout=timeout_s):
            _, end = self._consumer.get_watermark_offsets(tp, timeout=timeout_s)
            found[(tp.topic, tp.partition)] = (tp.offset if tp.offset >= 0 else None, end)
        return found

    def lag(self) -> int | None:
        """Records not yet committed by the group (our topics start at offset 0); None while
        the broker does not answer."""
        try:
            return sum(end - (committed or 0) for committed, end in self.positions().values())
        except KafkaException:
            return None

    def committed(self) -> int | None:
        """Sum of the group's committed offsets (grows while it works)."""
        try:
            return sum(committed or 0 for committed, _ in self.positions().values())
        except KafkaException:
            return None

    def never_committed(self) -> int | None:
        """Partitions that have records but no committed offset of the group."""
        try:
            return sum(1 for c, end in self.positions().values() if c is None and end > 0)
        except KafkaException:
            return None

    def describe(self) -> str:
        try:
            return "; ".join(
                f"{t}[{p}] committed {c} end {e}" for (t, p), (c, e) in self.positions().items()
            )
        except KafkaException as exc:
            return f"({exc})"

    def close(self) -> None:
        self._consumer.close()


def query_clickhouse(
    settings: Settings,
    queries: dict[str, str],
    parameters: dict[str, Any] | None = None,
    timeout_s: float = 120.0,
) -> dict[str, list[dict[str, Any]]]:
    """Run ``queries`` (name -> SQL, ``{db}`` for the database) against the settings' ClickHouse
    in a child process; rows by query name. With embedded chDB, no other process may hold the
    folder meanwhile (stop its sink first)."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.processes"],
        input=json.dumps({"queries": queries, "parameters": parameters or {}}),
        capture_output=True,
        text=True,
        env=child_env(settings),
        cwd=PROJECT_ROOT,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"reading ClickHouse failed ({done.returncode}):\n{done.stderr}")
    result: dict[str, list[dict[str, Any]]] = json.loads(done.stdout.splitlines()[-1])
    return result


def _wait_for(check: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout_s:.0f}s")
        time.sleep(0.1)


def _serve_queries() -> None:
    """The child side of ``query_clickhouse``: settings from the environment, queries on stdin,
    one JSON line of rows on stdout."""
    from eventline.sinks.store import open_store

    request = json.load(sys.stdin)
    store = open_store(Settings(), migrate=False)
    rows = {
        name: store.query(sql, request["parameters"]) for name, sql in request["queries"].items()
    }
    print(json.dumps(rows, default=str))


if __name__ == "__main__":
    _serve_queries()


def processes_of(home: Path) -> list[int]:
    """Pids of live processes started with this home (the broker, the worker, gateways)."""
    mark = f"EVENTLINE_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if (
                mark in (entry / "environ").read_bytes()
                or str(home).encode() in (entry / "cmdline").read_bytes()
            ):
                state = (entry / "stat").read_text().split(") ", 1)[1][0]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found
