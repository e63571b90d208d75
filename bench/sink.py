"""Sink figure: a second `eventline sink` process, with a ClickHouse and topics of its own,
replays every record the run produced so far (copied to its topics as they are); rows/s from
its first committed batch to its last, beside raw inserts of the same row shape."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka import Producer

from bench.anchors.runner import Anchors
from bench.common import LIBRDKAFKA, committed, high_watermarks
from bench.deployment import Deployment
from bench.procs import call
from bench.report import Row, Target
from bench.topics_read import records
from eventline.core.settings import settings_env
from eventline.core.topics import Topics, ensure_topics


def copy_topics(bootstrap: str, pairs: list[tuple[str, str]]) -> int:
    """Copy every record of each source topic to the same partition of its destination
    (key, value, headers, timestamp as they were); the records copied."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "logger": LIBRDKAFKA,
                         "compression.type": "lz4", "acks": "all"})  # fmt: skip
    destination = dict(pairs)
    copied = 0
    for topic, partition, msg in records(bootstrap, dict.fromkeys(destination)):
        _produce(producer, destination[topic], partition, msg)
        copied += 1
        if copied % 1000 == 0:
            producer.poll(0)
    if producer.flush(120) != 0:
        raise RuntimeError("copy: records still undelivered after 120 s")
    return copied


def _produce(producer: Producer, topic: str, partition: int, msg: object) -> None:
    args = {"partition": partition, "timestamp": msg.timestamp()[1],  # type: ignore[attr-defined]
            "headers": msg.headers()}  # type: ignore[attr-defined]  # fmt: skip
    while True:
        try:
            producer.produce(topic, msg.value(), msg.key(), **args)  # type: ignore[attr-defined]
            return
        except BufferError:
            producer.poll(0.05)


def replay(dep: Deployment, anchors: Anchors, home: Path) -> list[Row]:
    dep.settle()
    inserted = anchors.chdb_insert()
    settings = dep.settings.model_copy(
        update={"topic_prefix": f"{dep.settings.topic_prefix}-replay", "home": home}
    )
    names = ensure_topics(settings)
    bootstrap = settings.bootstrap()
    pairs = list(zip(dep.topics.sink_inputs(), names.sink_inputs(), strict=True))
    total = call(copy_topics, bootstrap, pairs)
    if total != sum(high_watermarks(bootstrap, t) for t in names.sink_inputs()):
        raise RuntimeError("sink replay: the copy does not hold every record")
    rate = _timed_sink(settings_env(settings), names, bootstrap, total, home)
    print(
        f"sink                 : {rate:8.0f} rows/s ({total} records, one row each, replayed "
        f"by a second `eventline sink` into its own embedded ClickHouse); anchor: raw "
        f"insert {inserted:.0f} rows/s",
        flush=True,
    )
    return [Row("sink", rate, "rows/s", inserted, "raw chDB insert",
                Target(at_least=80000, min_ratio=0.5))]  # fmt: skip


def _timed_sink(
    env: dict[str, str], names: Topics, bootstrap: str, total: int, home: Path
) -> float:
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "sink.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from eventline.cli import app; app()", "sink"],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        first: tuple[float, int] | None = None
        deadline = time.monotonic() + 1800
        while (done := committed(bootstrap, names.sink_group, names.sink_inputs())) < total:
            if proc.poll() is not None:
                raise RuntimeError(f"the replay sink exited; see {home / 'sink.log'}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the replay sink wrote {done} of {total} records")
            if first is None and done > 0:
                first = (time.monotonic(), done)
            time.sleep(0.05)
        if first is None:  # everything in one batch: no rate can be told from commits
            raise RuntimeError("sink replay too small to time: raise the sizes")
        return (total - first[1]) / (time.monotonic() - first[0])
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
