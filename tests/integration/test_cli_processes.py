"""`eventline up` owns exactly what it starts (issue 13): one pipeline per home, a failed or
interrupted start leaves nothing running, a broker started by `eventline kafka start` is
left running, and `kafka status|stop` always tell the truth.

Each test runs the installed command in processes of its own, on a home folder, ports and
broker of its own (the broker jars are shared with `make kafka`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from eventline.core.settings import Settings
from eventline.processes.broker import LocalKafka
from tests.integration.processes import free_port, processes_of

pytestmark = pytest.mark.integration


def _env(home: Path) -> dict[str, str]:
    jars = LocalKafka.from_settings(Settings()).libs  # shared with `make kafka`
    ours = {k: v for k, v in os.environ.items() if not k.startswith("EVENTLINE_")}
    return {
        **ours,
        "EVENTLINE_HOME": str(home),
        "EVENTLINE_KAFKA_JARS_DIR": str(jars),
        "EVENTLINE_LOCAL_KAFKA_PORT": str(free_port()),
        "EVENTLINE_LOCAL_KAFKA_CONTROLLER_PORT": str(free_port()),
        "EVENTLINE_LOCAL_KAFKA_HEAP": "384m",
        "EVENTLINE_GATEWAY_PORT": str(free_port()),
        "EVENTLINE_WORKER_METRICS_PORT": str(free_port()),
        "EVENTLINE_SINK_METRICS_PORT": str(free_port()),
        "EVENTLINE_GATEWAY_PROCESSES": "1",
    }


def _eventline(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "eventline", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def _broker(env: dict[str, str]) -> LocalKafka:
    return LocalKafka.from_settings(
        Settings(
            home=Path(env["EVENTLINE_HOME"]),
            local_kafka_port=int(env["EVENTLINE_LOCAL_KAFKA_PORT"]),
        )
    )


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:.0f}s: {what}")
        time.sleep(0.2)


def test_a_second_up_is_refused_and_an_interrupted_start_leaves_nothing_running(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path)
    first = subprocess.Popen(
        [sys.executable, "-m", "eventline", "up"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        lock = tmp_path / "eventline.lock"
        _wait(
            lambda: lock.exists() and "pid" in lock.read_text(), 60, "the first up holds the home"
        )
        second = _eventline(env, "up", timeout=60)
        assert second.returncode == 1
        assert f"eventline up, pid {first.pid}" in second.stderr
        assert second.stderr.count("\n") == 1, second.stderr
        # SIGTERM while the broker starts (or right after): every part started goes.
        broker = _broker(env)
        _wait(lambda: broker.pid_file.exists(), 60, "the first up starts its broker")
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=40)
    finally:
        if first.poll() is None:
            first.kill()
    assert broker.pid() is None and not broker.answers()
    _wait(lambda: not processes_of(tmp_path), 10, "no process of this home left")
    assert _eventline(env, "kafka", "status").stdout.strip() == "stopped"


def test_up_leaves_a_broker_it_did_not_start_and_stops_nothing_when_it_fails(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path)
    started = _eventline(env, "kafka", "start")
    assert started.returncode == 0, started.stderr
    try:
        status = _eventline(env, "kafka", "status")
        assert status.returncode == 0 and status.stdout.startswith("running, pid ")
        # ClickHouse that does not answer fails `up` after the broker check and the topics.
        closed = {**env, "EVENTLINE_CLICKHOUSE_URL": f"http://127.0.0.1:{free_port()}"}
        failed = _eventline(closed, "up", timeout=120)
        assert failed.returncode == 1
        assert failed.stderr.startswith("eventline: ") and failed.stderr.count("\n") == 1
        assert "Traceback" not in failed.stderr
        assert _eventline(env, "kafka", "status").returncode == 0  # still running
        assert not (tmp_path / "eventline.lock").read_text()  # the home was given back
    finally:
        began = time.monotonic()
        stopped = _eventline(env, "kafka", "stop")
    assert stopped.returncode == 0 and time.monotonic() - began < 25
    status = _eventline(env, "kafka", "status")
    assert status.returncode == 1 and status.stdout.strip() == "stopped"
    assert "no broker" in _eventline(env, "kafka", "stop").stdout
