"""The worker's tables: kept in memory, written to their changelog once per batch.

A Faust table sends one changelog record per write through Faust's producer, which capped an
agent at a few thousand writes per second (issue 11). Here an agent handles a batch of records,
writes change the table in memory at once (later records of the batch see them), and the batch
hands the changed keys' latest values, one record per key, to the batch's producer
(``drain``), which sends them with the batch's outputs before the batch is acked.

A partition's copy is restored from its changelog when the agent first needs it in a consumer
generation, unless the copy is already what the changelog holds: the changelog's end offset
is the one after our own last write, so nobody wrote the partition while another worker owned
it. Keys and values are JSON, as Faust wrote them, so the state of an earlier version reads
back. Values are held encoded: compact in memory, and a reader gets its own copy to change.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

log = logging.getLogger(__name__)

RESTORE_TIMEOUT_S = 120.0  # without progress for this long, the restore fails (and is retried)
# (topic, partition, key, value or None for a deletion)
ChangelogRecord = tuple[str, int, bytes, bytes | None]


class Table:
    """One table (``identities``, ``contacts``, ``seen``): partitioned like its agent's input
    topic; the agent sets ``partition`` to the partition of the record it handles, and writes
    go there."""

    def __init__(self, name: str, changelog: str) -> None:
        self.name = name
        self.changelog = changelog
        self.partition = 0
        self._parts: dict[int, dict[str, bytes]] = {}
        self._dirty: dict[int, dict[str, bytes | None]] = {}
        self._ends: dict[int, int] = {}  # changelog offset after the last record in our copy
        self._checked: dict[int, int] = {}  # partition -> generation its copy was checked in

    # --- reads and writes (the agent's record) -------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        value = self._find(key)
        return default if value is None else orjson.loads(value)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._find(key) is not None

    def __setitem__(self, key: str, value: Any) -> None:
        # A copy of exactly its length: the bytes orjson returns keep its 4 KiB buffer, so a
        # 40-byte identity held 4 KiB (a worker that had loaded 200,000 contacts: 1.8 GiB of
        # RSS, 378 MiB once restored from the changelogs).
        encoded = bytes(memoryview(orjson.dumps(value)))
        self._parts.setdefault(self.partition, {})[key] = encoded
        self._dirty.setdefault(self.partition, {})[key] = encoded

    def __delitem__(self, key: str) -> None:
        self._parts.get(self.partition, {}).pop(key, None)
        self._dirty.setdefault(self.partition, {})[key] = None

    def update(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            self[key] = value

    def keys(self) -> Iterator[str]:
        for part in list(self._parts.values()):
            yield from list(part)

    def __len__(self) -> int:
        return sum(len(part) for part in self._parts.values())

    def _find(self, key: str) -> bytes | None:
        found = self._parts.get(self.partition, {}).get(key)
        if found is None:  # a key written on another partition this worker owns
            for part in self._parts.values():
                found = part.get(key)
                if found is not None:
                    break
        return found

    # --- the batch ----------------------------------------------------------------------
    def drain(self) -> list[ChangelogRecord]:
        """The changed keys' latest values since the last drain, as changelog records."""
        records: list[ChangelogRecord] = [
            (self.changelog, partition, orjson.dumps(key), value)
            for partition, changed in self._dirty.items()
            for key, value in changed.items()
        ]
        self._dirty = {}
        return records

    def discard(self) -> None:
        """Forget the writes not drained yet: the partitions they touched are restored again
        (a batch that could not be finished)."""
        for partition in self._dirty:
            self._parts.pop(partition, None)
            self._checked.pop(partition, None)
            self._ends.pop(partition, None)
        self._dirty = {}

    def written(self, partition: int, offset: int) -> None:
        """Kafka acknowledged our changelog record at ``offset`` (producer thread)."""
        if offset >= self._ends.get(partition, 0):
            self._ends[partition] = offset + 1

    # --- restore ------------------------------------------------------------------------
    def stale(self, partitions: Iterable[int], generation: int) -> list[int]:
        """The partitions not checked yet in this consumer generation."""
        return [p for p in partitions if self._checked.get(p) != generation]

    def keep_only(self, owned: set[int]) -> None:
        """Let go of the copies of partitions this worker no longer owns."""
        for partition in [p for p in self._parts if p not in owned]:
            del self._parts[partition]
            self._ends.pop(partition, None)
            self._checked.pop(partition, None)

    def check(self, bootstrap: str, partitions: list[int], generation: int) -> int:
        """Restore the partitions whose changelog moved since our copy (blocking: call in a
        thread); how many records were read."""
        reader = _consumer(bootstrap)
        try:
            read = 0
            for partition in partitions:
                tp = TopicPartition(self.changelog, partition)
                low, high = reader.get_watermark_offsets(tp, timeout=RESTORE_TIMEOUT_S)
                if partition in self._parts and self._ends.get(partition, low) == high:
                    self._checked[partition] = generation  # our copy is the changelog's
                    continue
                values, read_now = _read(reader, self.changelog, partition, high)
                self._parts[partition] = values
                self._ends[partition] = high
                self._checked[partition] = generation
                read += read_now
            return read
        finally:
            reader.close()


def _read(reader: Consumer, topic: str, partition: int, end: int) -> tuple[dict[str, bytes], int]:
    """Every key's latest value of a changelog partition, up to offset ``end``."""
    values: dict[str, bytes] = {}
    if end <= 0:
        return values, 0
    reader.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
    read, position, moved = 0, -1, time.monotonic()
    while position < end - 1:
        batch = reader.consume(10_000, 1.0)
        if not batch:
            if reader.position([TopicPartition(topic, partition)])[0].offset >= end:
                break  # the rest are transaction markers or removed by compaction
            if time.monotonic() - moved > RESTORE_TIMEOUT_S:
                raise TimeoutError(f"{topic}[{partition}] not restored: no progress")
            continue
        moved = time.monotonic()
        for record in batch:
            error = record.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    position = max(position, (record.offset() or 0) - 1)
                    continue
                raise RuntimeError(f"{topic}[{partition}]: {error}")
            offset = record.offset() or 0
            if offset >= end:
                continue
            position = max(position, offset)
            key = orjson.loads(record.key() or b'""')
            value = record.value()
            if value is None:
                values.pop(key, None)
            else:
                values[key] = value
            read += 1
    reader.unassign()
    return values, read


def _consumer(bootstrap: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"eventline-table-restore-{uuid.uuid4()}",  # never commits
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.max.bytes": 52_428_800,
            "logger": logging.getLogger("librdkafka"),
        }
    )


class Tables:
    """The tables of one agent, restored together before the agent handles a batch, under a
    lock that the segment clock also takes, so it never reads a table being restored."""

    def __init__(self, bootstrap: str, *tables: Table) -> None:
        self.bootstrap = bootstrap
        self.tables = tables
        self.lock = asyncio.Lock()
        self._sending: set[asyncio.Future[None]] = set()

    def sent(self, delivery: asyncio.Future[None]) -> None:
        """A batch's changes are on their way: a restore waits until Kafka has them, or it
        would read a changelog without them."""
        self._sending.add(delivery)
        delivery.add_done_callback(self._sending.discard)

    async def ready(self, partitions: Iterable[int], owned: set[int], generation: int) -> None:
        """Make sure ``partitions`` are restored for ``generation`` (call under ``lock``)."""
        wanted = set(partitions)
        for table in self.tables:
            stale = table.stale(wanted, generation)
            if not stale:
                continue
            table.keep_only(owned | wanted)
            if self._sending:
                await asyncio.wait(list(self._sending))
            started = time.monotonic()
            read = await asyncio.to_thread(table.check, self.bootstrap, sorted(stale), generation)
            if read:
                log.warning(
                    "table %s: restored partitions %s from %d changelog records in %.1fs",
                    table.name,
                    sorted(stale),
                    read,
                    time.monotonic() - started,
                )

    def drain(self) -> list[ChangelogRecord]:
        return [record for table in self.tables for record in table.drain()]

    def discard(self) -> None:
        for table in self.tables:
            table.discard()

    def written(self, topic: str, partition: int, offset: int) -> None:
        for table in self.tables:
            if table.changelog == topic:
                table.written(partition, offset)

    def at(self, partition: int) -> None:
        """The record being handled is on ``partition``."""
        for table in self.tables:
            table.partition = partition
