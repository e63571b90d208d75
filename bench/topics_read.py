"""Reading topics between offsets: every record from given starts to the ends seen at call."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from confluent_kafka import Consumer, Message, TopicPartition

from bench.common import LIBRDKAFKA


def ends(bootstrap: str, topic: str) -> dict[int, int]:
    """End offset of each partition of ``topic`` now."""
    consumer = _consumer(bootstrap)
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in parts
        }
    finally:
        consumer.close()


def records(
    bootstrap: str, starts: dict[str, dict[int, int] | None]
) -> Iterator[tuple[str, int, Message]]:
    """(topic, partition, message) of every record from each partition's start (None: the
    beginning) to its end at the call, all partitions of all topics read at once."""
    consumer = _consumer(bootstrap)
    try:
        todo: dict[tuple[str, int], int] = {}
        assign = []
        for topic, start in starts.items():
            for p, end in ends(bootstrap, topic).items():
                low = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[0]
                first = max(low, (start or {}).get(p, low))
                if first < end:
                    todo[(topic, p)] = end
                    assign.append(TopicPartition(topic, p, first))
        consumer.assign(assign)
        while todo:
            for msg in consumer.consume(1000, 0.2):
                if msg.error() is not None:
                    continue
                topic, p, offset = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
                stop = todo.get((topic, p))
                if stop is None or offset >= stop:
                    continue
                yield topic, p, msg
                if offset + 1 >= stop:
                    del todo[(topic, p)]
    finally:
        consumer.close()


def _consumer(bootstrap: str) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-read-{uuid.uuid4()}",
                     "enable.auto.commit": False, "logger": LIBRDKAFKA})  # fmt: skip
