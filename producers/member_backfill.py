"""Upgrade step of the member index: the hashes registered before the ``members`` topic existed.

Until this version, a registration's hash claim went to ``incoming`` only, and the worker
stored it in its identity table (``<prefix>-worker-identities-changelog``, keyed by the
identity key as JSON text). A gateway that finds no backfill marker on the ``members`` topic
copies every ``account/md5/<hash>`` key of that changelog to the topic, then writes the
marker; until then its index never answers "unknown" (producers/members.py), so an upgrade
never turns an existing member into a 404. Several gateway processes may copy at once: the
records are keys, so a copy written twice is the same entry (and compaction keeps one).

Not covered: a claim written by a gateway of the earlier version and not yet read by the
worker when the copy ran (a registration in flight during the upgrade). Its member answers
404 until it is added again, which is what a Mailchimp client does on 404.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from eventline.core.kafka import producer_config
from eventline.core.settings import Settings
from eventline.core.topics import Topics
from eventline.producers.members import ENTRY, MARKER, is_member_key

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 60.0


def backfill(settings: Settings, note: Callable[[str], None]) -> int:
    """Copy the worker's subscriber-hash identities to the members topic, calling ``note``
    with each key; then write the marker. Blocking (call in a thread). How many were copied."""
    topics = Topics(settings.topic_prefix)
    producer = Producer(producer_config(settings.bootstrap(), **{"linger.ms": 20}))
    errors: list[KafkaError] = []

    def delivered(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            errors.append(err)

    copied = 0
    for key in _hash_keys(settings.bootstrap(), topics.changelog("identities")):
        producer.produce(topics.members, value=ENTRY, key=key, on_delivery=delivered)
        producer.poll(0)
        note(key)
        copied += 1
    if producer.flush(READ_TIMEOUT_S) or errors:
        raise RuntimeError(f"member backfill not written: {errors[:1] or 'timed out'}")
    producer.produce(topics.members, value=b"done", key=MARKER, on_delivery=delivered)
    if producer.flush(READ_TIMEOUT_S) or errors:
        raise RuntimeError(f"member backfill marker not written: {errors[:1] or 'timed out'}")
    log.info("member index: %d subscriber hashes copied from the worker's identities", copied)
    return copied


def _hash_keys(bootstrap: str, changelog: str) -> set[str]:
    """The ``account/md5/<hash>`` keys of the identities changelog, up to its end now."""
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"eventline-member-backfill-{uuid.uuid4()}",  # never commits
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "logger": logging.getLogger("librdkafka"),
        }
    )
    keys: set[str] = set()
    try:
        found = reader.list_topics(changelog, timeout=10).topics.get(changelog)
        if found is None or found.error is not None:
            return keys  # no worker has run yet: nothing registered
        for partition in found.partitions:
            tp = TopicPartition(changelog, partition)
            _, end = reader.get_watermark_offsets(tp, timeout=10)
            _read_partition(
                reader, TopicPartition(changelog, partition, OFFSET_BEGINNING), end, keys
            )
    finally:
        reader.close()
    return keys


def _read_partition(reader: Consumer, tp: TopicPartition, end: int, keys: set[str]) -> None:
    if end <= 0:
        return
    reader.assign([tp])
    deadline = time.monotonic() + READ_TIMEOUT_S
    position = 0
    while position < end:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{tp.topic}[{tp.partition}] not read within {READ_TIMEOUT_S}s")
        for record in reader.consume(10_000, 1.0):
            error = record.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    position = max(position, record.offset() or 0)
                    continue
                raise RuntimeError(f"{tp.topic}[{tp.partition}]: {error}")
            position = max(position, (record.offset() or 0) + 1)
            key = orjson.loads(record.key() or b'""')
            if isinstance(key, str) and is_member_key(key):
                if record.value() is None:
                    keys.discard(key)
                else:
                    keys.add(key)
    reader.unassign()
