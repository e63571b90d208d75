"""Anchor: raw confluent-kafka produce of encoded IncomingRecords (acks=all, idempotent, lz4)."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import Producer

from bench.anchors.records import encoded, producer_config


def produce(bootstrap: str, topic: str, n: int) -> float:
    """Messages/s of producing n encoded records and flushing (encoding is not timed)."""
    records = [encoded(i) for i in range(n)]
    producer = Producer(producer_config(bootstrap))
    failed: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(str(err))

    started = time.perf_counter()
    for key, value in records:
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: serve delivery reports, retry
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(120) != 0:
        raise RuntimeError("raw produce: records still undelivered after 120 s")
    if failed:
        raise RuntimeError(f"raw produce: {len(failed)} records failed, e.g. {failed[0]}")
    return n / (time.perf_counter() - started)
