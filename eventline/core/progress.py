"""How far each partition a process consumes is behind, and for how long it has not moved.

A partition is *stalled* when records wait on it and none of them was finished for a while: a
record retried because Kafka or ClickHouse is away, or anything else that holds it. The worker
and the sink publish it as gauges (``<prefix>_partition_lag`` and
``<prefix>_partition_stalled_seconds``; alert rule in docs/alerts.yml).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from prometheus_client import Gauge


class Part(NamedTuple):
    """A topic partition, as a dictionary key."""

    topic: str
    partition: int


def gauges(prefix: str, who: str) -> tuple[Gauge, Gauge]:
    """The lag and stall gauges of one consumer (``prefix``: eventline_worker, ...)."""
    lag = Gauge(
        f"{prefix}_partition_lag",
        f"Records waiting on a partition of the {who} (end offset minus the next to finish)",
        ["topic", "partition"],
    )
    stalled = Gauge(
        f"{prefix}_partition_stalled_seconds",
        f"Seconds since a partition of the {who} with waiting records last finished one "
        "(0 when none wait)",
        ["topic", "partition"],
    )
    return lag, stalled


@dataclass
class PartitionProgress:
    """The next offset to finish, and when the last one was finished, per partition. Pure."""

    next_offset: dict[Any, int] = field(default_factory=dict)
    finished_at: dict[Any, float] = field(default_factory=dict)

    def finished(self, tp: Any, offset: int, now: float) -> None:
        """A record of ``tp`` at ``offset`` is done."""
        self.next_offset[tp] = max(self.next_offset.get(tp, 0), offset + 1)
        self.finished_at[tp] = now

    def report(
        self, ends: Mapping[Any, int | None], starts: Mapping[Any, int | None], now: float
    ) -> dict[Any, tuple[int, float]]:
        """(lag, stalled seconds) of each owned partition: ``ends`` are their end offsets,
        ``starts`` where this owner began (its committed offsets), for partitions that have
        finished nothing yet."""
        out = {}
        for tp, end in ends.items():
            position = self.next_offset.get(tp, starts.get(tp))
            if end is None or position is None:
                continue
            lag = max(0, end - position)
            since = self.finished_at.setdefault(tp, now)
            if lag == 0:
                self.finished_at[tp] = now  # nothing waits: not stalled
            out[tp] = (lag, 0.0 if lag == 0 else now - since)
        return out


_published: dict[tuple[int, str], set[str]] = {}  # (gauge, topic) -> partitions last set


def publish(
    report: Mapping[Any, tuple[int, float]], topic: str, lag: Gauge, stalled: Gauge
) -> None:
    """Set the gauges of ``topic``'s partitions (objects with ``.partition``); partitions no
    longer owned read 0."""
    owned = {str(tp.partition) for tp in report}
    for partition in _published.get((id(lag), topic), set()) - owned:  # moved elsewhere
        lag.labels(topic, partition).set(0)
        stalled.labels(topic, partition).set(0)
    _published[(id(lag), topic)] = owned
    for tp, (waiting, seconds) in report.items():
        lag.labels(topic, str(tp.partition)).set(waiting)
        stalled.labels(topic, str(tp.partition)).set(seconds)
