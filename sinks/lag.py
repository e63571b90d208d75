"""The sink's lag and stall per partition, as Prometheus gauges (eventline.core.progress).

Progress is a commit: a partition whose records wait while no batch of it was committed for
a while (ClickHouse away, a batch retried) shows a growing ``eventline_sink_partition_
stalled_seconds``."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from eventline.core.progress import Part, PartitionProgress, gauges, publish

log = logging.getLogger(__name__)
LAG, STALLED = gauges("eventline_sink", "sink")
REPORT_EVERY_S = 5.0


class SinkProgress:
    """What the sink committed, and when, against the end of each partition it owns."""

    def __init__(self) -> None:
        self.progress = PartitionProgress()
        self._reported_at = 0.0

    def assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Start from the group's committed offsets of newly assigned partitions."""
        try:
            committed = consumer.committed(partitions, timeout=10)
        except KafkaException as exc:  # only the gauges suffer: they start at the first commit
            log.warning("cannot read committed offsets for the lag gauges: %s", exc)
            return
        now = time.monotonic()
        for tp in committed:
            part = Part(tp.topic, tp.partition)
            self.progress.finished_at[part] = now  # a new owner: its stall counts from now
            if tp.offset >= 0:
                self.progress.next_offset[part] = tp.offset

    def committed(self, offsets: list[TopicPartition]) -> None:
        now = time.monotonic()
        for tp in offsets:
            self.progress.finished(Part(tp.topic, tp.partition), tp.offset - 1, now)

    def report(self, consumer: Consumer, force: bool = False) -> None:
        """Publish the gauges, at most every REPORT_EVERY_S (local calls only: cached ends)."""
        now = time.monotonic()
        if not force and now - self._reported_at < REPORT_EVERY_S:
            return
        self._reported_at = now
        ends: dict[Any, int | None] = {}
        for tp in consumer.assignment():
            _low, high = consumer.get_watermark_offsets(tp, cached=True)
            ends[Part(tp.topic, tp.partition)] = high if high >= 0 else None
        by_topic: dict[str, dict[Any, tuple[int, float]]] = defaultdict(dict)
        for part, figures in self.progress.report(ends, {}, now).items():
            by_topic[part.topic][part] = figures
        for topic, report in by_topic.items():
            publish(report, topic, LAG, STALLED)
