"""The project's own single-node Apache Kafka (KRaft) broker on 127.0.0.1, resolved with Maven."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from eventline.core.errors import EventlineError
from eventline.core.settings import Settings

log = logging.getLogger(__name__)


class LocalKafkaError(EventlineError):
    """The local broker could not be fetched, formatted or started."""


@dataclass(frozen=True)
class LocalKafka:
    """Paths and ports of one local broker; every method is idempotent."""

    root: Path
    version: str
    port: int
    controller_port: int
    heap: str = "768m"
    jars: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalKafka:
        return cls(
            root=settings.home.resolve() / "kafka",
            version=settings.kafka_version,
            port=settings.local_kafka_port,
            controller_port=settings.local_kafka_controller_port,
            heap=settings.local_kafka_heap,
            jars=settings.kafka_jars_dir.resolve() if settings.kafka_jars_dir else None,
        )

    @property
    def libs(self) -> Path:
        return self.jars or self.root / f"libs-{self.version}"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def pid_file(self) -> Path:
        return self.root / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.root / "broker.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def fetch(self) -> Path:
        """Resolve the broker jars from Maven Central into ``libs`` (skipped when present)."""
        marker = self.libs / ".complete"
        if marker.exists():
            return self.libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise LocalKafkaError("Maven ('mvn') is needed to fetch the Kafka broker; install it")
        self.libs.mkdir(parents=True, exist_ok=True)
        pom = resources.files("eventline.processes") / "kafka" / "pom.xml"
        with resources.as_file(pom) as pom_path:
            cmd = [
                mvn,
                "-q",
                "-B",
                "-f",
                str(pom_path),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={self.libs}",
                f"-Dkafka.version={self.version}",
            ]
            log.info("fetching Kafka %s with Maven into %s", self.version, self.libs)
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise LocalKafkaError(f"Maven could not resolve Kafka {self.version}:\n{done.stdout}")
        marker.touch()
        return self.libs

    def _java(self, *args: str) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise LocalKafkaError("a JDK ('java') is needed to run the local Kafka broker")
        return [java, "-cp", f"{self.libs}/*", *args]

    def _write_config(self) -> Path:
        self.data.mkdir(parents=True, exist_ok=True)
        config = self.root / "server.properties"
        voters = f"1@127.0.0.1:{self.controller_port}"
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters={voters}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={self.data}",
                    # One node: internal topics cannot have more than one replica.
                    "offsets.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "group.initial.rebalance.delay.ms=0",
                    # We create every topic ourselves, with the settings we want.
                    "auto.create.topics.enable=false",
                    "",
                ]
            )
        )
        return config

    def _format(self, config: Path) -> None:
        if (self.data / "meta.properties").exists():
            return
        cluster_id = uuid.uuid4().hex[:22]
        cmd = self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config))
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise LocalKafkaError(f"formatting {self.data} failed: {done.stdout}{done.stderr}")

    def pid(self) -> int | None:
        """The broker's pid when it is running, else None (a pid reused by another program
        is not the broker)."""
        try:
            pid = int(self.pid_file.read_text().strip())
            _reap(pid)
            os.kill(pid, 0)
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            written = self.pid_file.stat().st_mtime
            if _started_at(pid) > written + 2:
                return None  # the pid was reused after the file was written (a reboot, …)
        except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            return None
        # An exiting process has no command line (its memory goes before its sockets): it is
        # still the broker until it is gone. Another program's is not (a reused pid).
        return pid if not cmdline or b"kafka.Kafka" in cmdline else None

    def status(self) -> str:
        """One line that is always true: running (pid, address), stopped, or another broker
        on our port."""
        pid = self.pid()
        if pid is not None:
            return f"running, pid {pid}, {self.bootstrap}, data in {self.data}"
        if self.answers():
            return (
                f"not started from {self.root.parent}, but something answers on "
                f"{self.bootstrap} (EVENTLINE_LOCAL_KAFKA_PORT)"
            )
        return "stopped"

    @contextlib.contextmanager
    def _starting(self) -> Iterator[None]:
        """Serialise starts of this broker: two starters at once would run two brokers on
        one data folder (and corrupt its metadata log)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "start.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def answers(self) -> bool:
        """True when the client port accepts a connection."""
        with socket.socket() as sock:
            sock.settimeout(0.5)
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def start(self, timeout_s: float = 90.0) -> str:
        """Start the broker unless it runs already; return once it answers."""
        with self._starting():
            if self.pid() is not None:
                self._wait_answers(None, timeout_s)
                return self.bootstrap
            if self.answers():
                raise LocalKafkaError(
                    f"port {self.port} is taken by another program or broker (not started "
                    f"from {self.root.parent}): stop it, or set EVENTLINE_LOCAL_KAFKA_PORT"
                )
            return self._start(timeout_s)

    def _start(self, timeout_s: float) -> str:
        self.fetch()
        config = self._write_config()
        self._format(config)
        log4j = resources.files("eventline.processes") / "kafka" / "log4j2.properties"
        with resources.as_file(log4j) as log4j_path:
            cmd = self._java(
                f"-Xmx{self.heap}",
                f"-Dlog4j2.configurationFile={log4j_path}",
                f"-Deventline.kafka.log={self.log_file}",
                "kafka.Kafka",
                str(config),
            )
            out = open(self.root / "broker.out", "ab")  # noqa: SIM115 - handed to the child
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.pid_file.write_text(str(proc.pid))
        try:
            self._wait_answers(proc, timeout_s)
        except BaseException:
            self.stop()  # a broker that never answered is not left running
            raise
        log.info("local Kafka %s answers on %s", self.version, self.bootstrap)
        return self.bootstrap

    def _wait_answers(self, proc: subprocess.Popen[bytes] | None, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise LocalKafkaError(f"broker exited with {proc.returncode}; see {self.log_file}")
            if self.answers() and _metadata_ready(self.bootstrap):
                return
            time.sleep(0.5)
        raise LocalKafkaError(f"broker did not answer on {self.bootstrap} in {timeout_s:.0f}s")

    def stop(self, timeout_s: float = 20.0) -> None:
        """Stop the broker: a clean shutdown (the next start needs no log recovery), SIGKILL
        after ``timeout_s`` (Kafka's log recovery at the next start keeps the data)."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.2)
        if self.pid() is not None:
            log.warning("the broker (pid %s) did not stop in %.0fs; killing it", pid, timeout_s)
            os.kill(pid, signal.SIGKILL)
            gone_by = time.monotonic() + 10
            while self.pid() is not None and time.monotonic() < gone_by:
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)


def _started_at(pid: int) -> float:
    """When process ``pid`` started (seconds since the epoch), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[19])  # starttime, the 22nd field of stat: clock ticks after boot
    boot = next(
        int(line.split()[1])
        for line in Path("/proc/stat").read_text().splitlines()
        if line.startswith("btime ")
    )
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def _reap(pid: int) -> None:
    """Collect the broker's exit status when this process started it (else it lingers)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _metadata_ready(bootstrap: str) -> bool:
    from eventline.core.topics import admin_client  # late: `kafka fetch` needs no client library

    try:
        meta = admin_client(bootstrap).list_topics(timeout=3)
    except Exception:  # the broker is still starting: any error means "not yet"
        return False
    return bool(meta.brokers)
