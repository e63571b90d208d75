"""Lag and stall of consumed partitions (eventline.core.progress)."""

from __future__ import annotations

from eventline.core.progress import PartitionProgress, gauges, publish

LAG, STALLED = gauges("eventline_unit", "test")


class TP:
    def __init__(self, partition: int) -> None:
        self.topic, self.partition = "t", partition

    def __hash__(self) -> int:
        return self.partition

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TP) and other.partition == self.partition


def test_a_partition_with_waiting_records_and_no_progress_is_stalled() -> None:
    progress = PartitionProgress()
    a, b = TP(0), TP(1)
    progress.finished(a, 9, now=100.0)
    report = progress.report({a: 10, b: 5}, {a: 0, b: 5}, now=101.0)
    assert report == {a: (0, 0.0), b: (0, 0.0)}  # caught up: never stalled
    report = progress.report({a: 15, b: 8}, {a: 0, b: 5}, now=130.0)
    assert report[a] == (5, 29.0)  # caught up at 101, nothing finished since
    assert report[b] == (3, 29.0)  # waiting since it was last seen caught up
    progress.finished(a, 12, now=131.0)
    assert progress.report({a: 15}, {}, now=132.0)[a] == (2, 1.0)


def test_partitions_no_longer_owned_read_zero() -> None:
    publish({TP(0): (4, 12.0), TP(1): (1, 3.0)}, "unit-topic", LAG, STALLED)
    publish({TP(1): (0, 0.0)}, "unit-topic", LAG, STALLED)
    assert STALLED.labels("unit-topic", "0")._value.get() == 0
    assert STALLED.labels("unit-topic", "1")._value.get() == 0
