"""Helpers shared by the benchmarks."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition

from eventline.settings import Settings
from eventline.topics import Topics

LIBRDKAFKA = logging.getLogger("librdkafka")


def high_watermarks(bootstrap: str, topic: str) -> int:
    """Records on ``topic`` so far (the sum of its partitions' end offsets)."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4()}", "logger": LIBRDKAFKA}
    )
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts
        )
    finally:
        consumer.close()


def group_lag(bootstrap: str, group: str, topics: list[str]) -> int:
    """Records on ``topics`` that consumer group ``group`` has not committed yet."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "logger": LIBRDKAFKA})
    try:
        lag = 0
        for topic in topics:
            parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            committed = consumer.committed([TopicPartition(topic, p) for p in parts], timeout=10)
            for tp in committed:
                high = consumer.get_watermark_offsets(tp, timeout=10)[1]
                lag += high - max(tp.offset, 0)
        return lag
    finally:
        consumer.close()


def worker_lag(settings: Settings) -> int:
    """Records the worker has not handled yet (its group's lag on its input topics)."""
    topics = Topics(settings.topic_prefix)
    return group_lag(
        settings.bootstrap(), topics.worker_app_id, [topics.incoming, topics.by_contact]
    )


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll ``check`` until it holds; the monotonic time it did."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(0.05)
    raise TimeoutError(f"{what} not reached in {timeout_s:.0f}s")
