"""The progress of a consumer group seen from outside (``/health``): its committed offsets
against the end of each partition, and how long a partition with waiting records has not
moved. Reads Kafka with the admin API only; joins no group."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from eventline.core.progress import Part, PartitionProgress


@dataclass
class GroupHealth:
    """One group's lag and its stalled partitions (lag > 0, no commit for ``stall_after_s``)."""

    group: str
    lag: int = 0
    stalled: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        status = "stalled" if self.stalled else "ok"
        return {"status": status, "group": self.group, "lag": self.lag, "stalled": self.stalled}


class GroupWatch:
    """Remembers when each partition's committed offset last moved, between looks."""

    def __init__(self, admin: AdminClient, group: str, topics: Iterable[str]) -> None:
        self.admin = admin
        self.group = group
        self.topics = set(topics)
        self.progress = PartitionProgress()
        self._lock = threading.Lock()

    def look(self, stall_after_s: float, timeout_s: float = 3.0) -> GroupHealth:
        """Read the group's committed offsets and the partitions' ends (blocking)."""
        metadata = self.admin.list_topics(timeout=timeout_s).topics
        parts = [
            Part(topic, p)
            for topic in sorted(self.topics)
            if topic in metadata
            for p in metadata[topic].partitions
        ]
        request = [ConsumerGroupTopicPartitions(self.group)]
        answer = self.admin.list_consumer_group_offsets(request, request_timeout=timeout_s)
        committed = {
            Part(tp.topic, tp.partition): tp.offset
            for tp in answer[self.group].result(timeout=timeout_s).topic_partitions or []
            if tp.offset >= 0
        }
        ends = self._offsets(parts, OffsetSpec.latest(), timeout_s)  # type: ignore[no-untyped-call]
        # A partition the group never committed on is read from its earliest record.
        uncommitted = [part for part in parts if part not in committed]
        starts = self._offsets(uncommitted, OffsetSpec.earliest(), timeout_s)  # type: ignore[no-untyped-call]
        now = time.monotonic()
        health = GroupHealth(self.group)
        with self._lock:
            for part, offset in committed.items():
                if self.progress.next_offset.get(part) != offset:
                    self.progress.finished(part, offset - 1, now)
            report = self.progress.report(ends, starts, now)
        for part, (lag, stalled_s) in sorted(report.items()):
            health.lag += lag
            if stalled_s >= stall_after_s:
                health.stalled.append(
                    {
                        "topic": part.topic,
                        "partition": part.partition,
                        "lag": lag,
                        "stalled_s": round(stalled_s, 1),
                    }
                )
        return health

    def _offsets(self, parts: list[Part], spec: Any, timeout_s: float) -> dict[Any, int | None]:
        if not parts:
            return {}
        wanted = {TopicPartition(part.topic, part.partition): spec for part in parts}
        futures = self.admin.list_offsets(wanted, request_timeout=timeout_s)
        return {
            Part(tp.topic, tp.partition): future.result(timeout=timeout_s).offset
            for tp, future in futures.items()
        }
