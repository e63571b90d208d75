"""The gateway as several processes on one port: the parent binds the listening socket and each
child (``python -m eventline.processes.gateways``) serves it with uvicorn and a Kafka producer of
its own. The kernel hands each new connection to one of them, so requests use every core, and
no gateway shares an interpreter with the sink, the worker or a load generator.

A child that dies is started again; a child whose parent died (SIGKILL) stops by itself.
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import uvicorn

from eventline.core.children import exit_with_parent
from eventline.core.errors import ConfigurationError, EventlineError
from eventline.core.settings import Settings, get_settings, settings_env
from eventline.producers.gateway.serving import uvicorn_options

log = logging.getLogger(__name__)

READY = b"r"  # what a child writes on its readiness pipe once it serves


def listening_socket(settings: Settings) -> socket.socket:
    """The gateway's listening socket (ConfigurationError naming the settings when the port
    is taken or the host is not this machine's)."""
    host = settings.gateway_host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, settings.gateway_port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(
            f"the gateway cannot listen on {settings.gateway_host}:{settings.gateway_port} "
            f"({exc.strerror}): stop what uses that port, or set EVENTLINE_GATEWAY_PORT "
            "(and EVENTLINE_GATEWAY_HOST) to another"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class GatewayProcesses:
    """``settings.gateway_processes`` gateway processes serving one listening socket.

    ``env`` is added to each child's environment (e.g. the store link of ClickHouse's owner)."""

    def __init__(
        self,
        settings: Settings,
        env: dict[str, str] | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        self.settings = settings
        self.env = env or {}
        self.url = f"http://{settings.gateway_host}:{settings.gateway_port}"
        self.log_path = settings.home.resolve() / "gateway.log"
        self.metrics_dir = settings.home.resolve() / f"gateway-metrics-{settings.gateway_port}"
        self.sock: socket.socket | None = sock  # bound already, or at start
        self.children: list[subprocess.Popen[bytes] | None] = []
        self._lock = threading.Lock()

    def start(self, timeout_s: float = 60.0) -> None:
        """Bind, start every child, and return once each serves."""
        if self.sock is None:
            self.sock = listening_socket(self.settings)
        # Metrics of every child, summed by whichever answers /metrics; a fresh folder per
        # start (counters start at zero, as a single process's would).
        shutil.rmtree(self.metrics_dir, ignore_errors=True)
        self.metrics_dir.mkdir(parents=True)
        self.children = [None] * self.settings.gateway_processes
        pipes = [self._spawn(slot) for slot in range(len(self.children))]
        deadline = time.monotonic() + timeout_s
        for slot, ready in enumerate(pipes):
            try:
                self._wait_ready(slot, ready, deadline)
            except EventlineError:
                self.stop()
                raise

    def _spawn(self, slot: int) -> int:
        """Start the child of ``slot``; the read end of its readiness pipe."""
        assert self.sock is not None
        read, write = os.pipe()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("EVENTLINE_")},
            **settings_env(self.settings),
            **self.env,
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            "PYTHONUNBUFFERED": "1",
        }
        command = [sys.executable, "-m", "eventline.processes.gateways"]
        command += ["--fd", str(self.sock.fileno()), "--ready-fd", str(write)]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            self.children[slot] = subprocess.Popen(
                command,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                pass_fds=(self.sock.fileno(), write),
            )
        os.close(write)
        return read

    def _wait_ready(self, slot: int, ready: int, deadline: float) -> None:
        try:
            child = self.children[slot]
            assert child is not None
            while time.monotonic() < deadline:
                if child.poll() is not None:
                    raise EventlineError(
                        f"a gateway process exited with {child.returncode}; see {self.log_path}"
                    )
                readable, _, _ = select.select([ready], [], [], 0.2)
                if readable and os.read(ready, 1) == READY:
                    return
            raise EventlineError(f"the gateway did not start on {self.url}; see {self.log_path}")
        finally:
            os.close(ready)

    def restart_dead(self) -> int:
        """Start again every child that exited; how many were."""
        restarted = 0
        with self._lock:
            for slot, child in enumerate(self.children):
                if child is None or child.poll() is None or self.sock is None:
                    continue
                log.error("a gateway process exited with %s; starting it again", child.returncode)
                ready = self._spawn(slot)
                os.close(ready)  # it serves once up; nobody waits for it here
                restarted += 1
        return restarted

    def stop(self, timeout_s: float = 20.0) -> None:
        with self._lock:
            running = [c for c in self.children if c is not None and c.poll() is None]
            for child in running:
                child.terminate()
            deadline = time.monotonic() + timeout_s
            for child in running:
                try:
                    child.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
            if self.sock is not None:
                self.sock.close()
                self.sock = None


class _Server(uvicorn.Server):
    """uvicorn's server that says on a pipe when it serves."""

    def __init__(self, config: uvicorn.Config, ready_fd: int) -> None:
        super().__init__(config)
        self.ready_fd = ready_fd

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.ready_fd >= 0:
            os.write(self.ready_fd, READY)
            os.close(self.ready_fd)
            self.ready_fd = -1


def serve(fd: int, ready_fd: int) -> None:
    """One gateway process: the app on the inherited listening socket ``fd``."""
    from eventline.producers.gateway.app import create_app
    from eventline.sinks.reads import StoreReads
    from eventline.sinks.store import Store, open_store
    from eventline.sinks.store_link import linked_store

    settings = get_settings()
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    exit_with_parent()
    store: Store | None
    if settings.uses_embedded_clickhouse:
        store = linked_store(settings.clickhouse_database)  # None: no owner, no read APIs
    else:
        store = open_store(settings, migrate=False)  # the parent migrated
    options: dict[str, Any] = uvicorn_options(settings)
    config = uvicorn.Config(
        create_app(settings, StoreReads(store) if store else None), log_level="warning", **options
    )
    sock = socket.socket(fileno=fd)
    _Server(config, ready_fd).run(sockets=[sock])


def main() -> None:
    """``python -m eventline.processes.gateways --fd N``: one gateway process, started by
    ``GatewayProcesses`` on the listening socket it passes down."""
    parser = argparse.ArgumentParser(description="one gateway process (see GatewayProcesses)")
    parser.add_argument("--fd", type=int, required=True, help="inherited listening socket")
    parser.add_argument("--ready-fd", type=int, default=-1, help="pipe to say 'serving' on")
    args = parser.parse_args()
    serve(args.fd, args.ready_fd)


if __name__ == "__main__":
    main()
