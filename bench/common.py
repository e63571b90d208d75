"""Helpers shared by the benchmarks."""

from __future__ import annotations

import logging
import uuid

from confluent_kafka import Consumer, TopicPartition

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
