"""The local pipeline starts its worker again when the worker exits on its own."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from eventline import pipeline as pipeline_module
from eventline.pipeline import Pipeline, WorkerProcess
from eventline.settings import Settings


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
