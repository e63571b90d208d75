"""The member index on the real broker: the upgrade copy from the worker's identities, and
the answer of a process that has not read a member added through another one."""

from __future__ import annotations

import asyncio
import time
import uuid

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from eventline.core.kafka import producer_config
from eventline.core.settings import Settings
from eventline.core.topics import ensure_topics
from eventline.producers.members import MARKER, MemberIndex, member_key
from tests.integration.helpers import eventually


def _fresh(settings: Settings) -> Settings:
    """A deployment of its own on the same broker (its own topics)."""
    fresh = settings.model_copy(update={"topic_prefix": f"members-{uuid.uuid4().hex[:8]}"})
    ensure_topics(fresh)
    return fresh


def test_an_upgrade_copies_the_hashes_the_worker_knows_and_then_serves_404s(
    settings: Settings,
) -> None:
    fresh = _fresh(settings)
    topics = ensure_topics(fresh)
    earlier = member_key("acme", "a" * 32)
    producer = Producer(producer_config(fresh.bootstrap()))
    for key, value in ((earlier, b'"@acme/email/ada@example.com"'), ("acme/email/x@y.z", b'"c"')):
        producer.produce(topics.changelog("identities"), key=orjson.dumps(key), value=value)
    producer.flush(10)

    index = MemberIndex(fresh)
    index.start()
    try:
        eventually(lambda: index.backfilled, what="the upgrade copy")
        assert asyncio.run(index.knows("acme", "a" * 32)) is True
        assert asyncio.run(index.knows("acme", "b" * 32)) is False
    finally:
        index.stop()
    assert _keys_on(fresh.bootstrap(), topics.members, {earlier, MARKER})

    again = MemberIndex(fresh)  # a later start: the marker says the copy is done
    again.start()
    try:
        eventually(lambda: again.backfilled, what="a later start")
        assert asyncio.run(again.knows("acme", "a" * 32)) is True
    finally:
        again.stop()


def test_a_member_added_through_another_process_is_found_before_any_404(
    settings: Settings,
) -> None:
    fresh = _fresh(settings)
    index = MemberIndex(fresh)
    index.start()
    try:
        eventually(lambda: index.backfilled, what="the index loaded")
        producer = Producer(producer_config(fresh.bootstrap()))
        # another gateway process writes the entry and answers its add; this one has not
        # polled it yet when the retry asks
        topic = f"{fresh.topic_prefix}.members"
        producer.produce(topic, key=member_key("acme", "c" * 32), value=b"member")
        producer.flush(10)
        started = time.monotonic()
        assert asyncio.run(index.knows("acme", "c" * 32)) is True
        assert time.monotonic() - started < fresh.member_index_wait_s
    finally:
        index.stop()


def _keys_on(bootstrap: str, topic: str, wanted: set[str]) -> bool:
    """Whether every key of ``wanted`` is on ``topic`` (read from the beginning)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4()}"})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    seen: set[str] = set()
    deadline = time.monotonic() + 30
    try:
        while not wanted <= seen and time.monotonic() < deadline:
            for message in consumer.consume(500, 0.5):
                if message.error() is None:
                    seen.add((message.key() or b"").decode())
    finally:
        consumer.close()
    return wanted <= seen
