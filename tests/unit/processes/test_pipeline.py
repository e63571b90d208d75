"""The local pipeline owns what it starts: one per home, a failed start leaves nothing running,
a worker that exits is started again with growing waits and its reason."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from eventline.core.settings import Settings
from eventline.processes import pipeline as pipeline_module
from eventline.processes.broker import LocalKafka
from eventline.processes.home_lock import AlreadyRunning, HomeLock
from eventline.processes.pipeline import Pipeline, WorkerProcess


def test_a_worker_that_exited_is_started_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started: list[WorkerProcess] = []
    monkeypatch.setattr(pipeline_module.WorkerProcess, "start", lambda self: started.append(self))
    running = Pipeline(Settings(home=tmp_path, kafka_bootstrap="127.0.0.1:1"))
    assert running.worker is not None
    running.worker.proc = subprocess.Popen(["sleep", "30"])
    running._restart_worker_if_dead()
    assert started == []  # alive: left alone
    running.worker.proc.kill()
    running.worker.proc.wait()
    dead = running.worker
    running._restart_worker_if_dead()
    assert started == [running.worker] and running.worker is not dead


def test_a_worker_that_keeps_failing_is_restarted_with_growing_waits_and_its_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started: list[WorkerProcess] = []
    monkeypatch.setattr(pipeline_module.WorkerProcess, "start", lambda self: started.append(self))
    running = Pipeline(Settings(home=tmp_path, kafka_bootstrap="127.0.0.1:1"))
    assert running.worker is not None
    running.worker.log_path.write_text("starting\nValueError: EVENTLINE_X is wrong\nbye\n")
    clock = [1000.0]
    monkeypatch.setattr(pipeline_module.time, "monotonic", lambda: clock[0])
    for _ in range(5):  # it dies at once, every time, polled every second for 4 s
        dead = subprocess.Popen(["true"])
        dead.wait()
        running.worker.proc = dead
        running._restart_worker_if_dead()
        clock[0] += 1.0
    # restarts at 1000 (then wait 1 s), 1001 (wait 2 s), 1003: three in five polls, not five
    assert len(started) == 3
    out = capsys.readouterr().out
    assert "ValueError: EVENTLINE_X is wrong" in out and "waits 4s" in out


def test_backoff_doubles_up_to_a_minute_and_forgets_after_a_good_run() -> None:
    backoff = pipeline_module.Backoff()
    waits = [backoff.failed(float(t)) for t in range(8)]
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]
    backoff.started_at = 100.0
    assert backoff.failed(200.0) == 1  # ran for 100 s: a fresh failure


def test_a_taken_gateway_port_fails_before_anything_starts_and_frees_the_home(
    tmp_path: Path,
) -> None:
    from eventline.core.errors import ConfigurationError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        # An unreachable broker would make any later stage wait 30 s: failing fast shows
        # that nothing after the port was tried.
        settings = Settings(home=tmp_path, kafka_bootstrap="127.0.0.1:1", gateway_port=port)
        running = Pipeline(settings)
        with pytest.raises(ConfigurationError, match="EVENTLINE_GATEWAY_PORT"):
            running.start()
    HomeLock(tmp_path).acquire("a test")  # released by the failed start


def test_a_second_pipeline_in_one_home_is_refused_with_the_holder(tmp_path: Path) -> None:
    first = HomeLock(tmp_path)
    first.acquire("eventline up")
    with pytest.raises(AlreadyRunning, match=rf"eventline up, pid {os.getpid()}"):
        Pipeline(Settings(home=tmp_path, kafka_bootstrap="127.0.0.1:1")).start()
    first.release()
    again = HomeLock(tmp_path)
    again.acquire("eventline demo")
    again.release()


def test_broker_status_never_takes_a_reused_pid_for_the_broker(tmp_path: Path) -> None:
    broker = LocalKafka(root=tmp_path / "kafka", version="4.1.1", port=1, controller_port=2)
    broker.root.mkdir()
    broker.pid_file.write_text(str(os.getpid()))  # alive, but not a Kafka broker
    assert broker.pid() is None
    assert broker.status() == "stopped"


def test_broker_status_never_takes_a_process_started_after_its_pid_file(tmp_path: Path) -> None:
    broker = LocalKafka(root=tmp_path / "kafka", version="4.1.1", port=1, controller_port=2)
    broker.root.mkdir()
    broker.pid_file.write_text("1")  # started long before: not the broker whatever it runs
    os.utime(broker.pid_file, (0, 0))  # written in 1970, before any running process started
    assert broker.pid() is None
