"""Helpers shared by the benchmarks: reading Kafka positions, waiting for conditions."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from functools import cache

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

LIBRDKAFKA = logging.getLogger("librdkafka")


@cache
def _reader(bootstrap: str, group: str) -> Consumer:
    """One idle consumer per group, kept: it only asks for offsets, never joins the group."""
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group, "logger": LIBRDKAFKA})


def _partitions(bootstrap: str, topic: str) -> list[TopicPartition]:
    meta = _reader(bootstrap, "bench-reader").list_topics(topic, timeout=10)
    return [TopicPartition(topic, p) for p in sorted(meta.topics[topic].partitions)]


def high_watermarks(bootstrap: str, topic: str) -> int:
    """Records on ``topic`` so far (the sum of its partitions' end offsets)."""
    reader = _reader(bootstrap, "bench-reader")
    return sum(
        reader.get_watermark_offsets(tp, timeout=10, cached=False)[1]
        for tp in _partitions(bootstrap, topic)
    )


def committed(bootstrap: str, group: str, topics: list[str]) -> int:
    """The sum of the offsets ``group`` committed on ``topics`` (0 where none)."""
    parts = [tp for topic in topics for tp in _partitions(bootstrap, topic)]
    return sum(max(tp.offset, 0) for tp in _reader(bootstrap, group).committed(parts, timeout=10))


def group_lag(bootstrap: str, group: str, topics: list[str]) -> int:
    """Records on ``topics`` that consumer group ``group`` has not committed yet."""
    return sum(high_watermarks(bootstrap, t) for t in topics) - committed(bootstrap, group, topics)


def wait_until(
    check: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.1
) -> float:
    """Poll ``check`` until it holds; the monotonic time it did."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(every_s)
    raise TimeoutError(f"{what} not reached in {timeout_s:.0f}s")


def make_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    """Create plain topics (the anchors' own), waiting until each exists."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "logger": LIBRDKAFKA})  # type: ignore[dict-item]
    futures = admin.create_topics([NewTopic(name, partitions, 1) for name in names])
    for future in futures.values():
        future.result(30)


def run_id() -> str:
    return uuid.uuid4().hex[:6]
