"""Records Faust skipped are read again from the real broker and handed on in order."""

from __future__ import annotations

import uuid
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic

from eventline.core.settings import Settings
from eventline.core.topics import admin_client
from eventline.streams.continuity import ContinuityGuard


class FakeConsumer:
    """The few parts of Faust's consumer the guard touches."""

    def __init__(self, topic: str) -> None:
        self._committed_offset: dict[Any, int] = {(topic, 0): 0}
        self._gap: dict[Any, Any] = {}
        self._read_offset: defaultdict[Any, int | None] = defaultdict(lambda: None)
        self.acked: list[int] = []

    def ack(self, message: Any) -> bool:
        self.acked.append(message.offset)
        return True


async def test_a_hole_is_read_again_and_handled_before_the_record_after_it(
    settings: Settings,
) -> None:
    topic = f"{settings.topic_prefix}.continuity-{uuid.uuid4().hex[:6]}"
    admin = admin_client(settings.bootstrap())
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    producer = Producer({"bootstrap.servers": settings.bootstrap()})
    for i in range(5):
        producer.produce(topic, key=f"k{i}".encode(), value=f"v{i}".encode(), partition=0)
    assert producer.flush(30) == 0

    consumer = FakeConsumer(topic)
    app = SimpleNamespace(consumer=consumer, consumer_generation_id=1)
    guard = ContinuityGuard(app, topic, settings.bootstrap())

    def delivered(offset: int) -> Any:
        tp = SimpleNamespace(topic=topic, partition=0)
        message = SimpleNamespace(tp=tp, offset=offset, topic=topic, partition=0)
        return SimpleNamespace(message=message, key=f"k{offset}".encode(), value=b"")

    first = delivered(0)
    assert await guard.admit(first) == [first]
    later = delivered(3)  # Faust dropped 1 and 2
    events = await guard.admit(later)
    assert [e.message.offset for e in events] == [1, 2, 3]
    assert [e.value for e in events[:2]] == [b"v1", b"v2"] and events[2] is later
    assert events[0].key == b"k1" and events[0].message.generation_id == 1
    events[0].ack()
    assert consumer.acked == [1]
    assert await guard.admit(delivered(2)) == []  # fetched again by Faust: handled already
    assert [e.message.offset for e in await guard.admit(delivered(4))] == [4]
