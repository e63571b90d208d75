"""The deployment clock's topic: its record, following it, and moving the clock forward.

``eventline.core.clock`` keeps the offset every process adds to system time; this module reads
and writes the compacted topic ``<prefix>.clock`` that publishes it (Avro ``ClockOffset``).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from functools import partial

from eventline.core.clock import CLOCK, now_ms
from eventline.core.follow import TopicFollower
from eventline.core.kafka import KafkaWriter
from eventline.core.settings import Settings
from eventline.core.topics import Topics
from eventline.schemas.codec import codec

log = logging.getLogger(__name__)
CLOCK_KEY = "clock"


def apply_record(_key: str, value: bytes | None, announce: bool = True) -> None:
    """Apply one record of the clock topic to this process's clock (``announce``: log it)."""
    if value is None:
        return
    try:
        offset = int(codec().decode("ClockOffset", value)["offset_ms"])
    except Exception as exc:
        log.error("clock topic: skipping undecodable record: %s", exc)
        return
    CLOCK.move_to(offset, announce)


def follow_clock(settings: Settings, announce: bool = True) -> TopicFollower | None:
    """With an adjustable clock, follow the clock topic (started, caught up); else None.
    ``announce``: log each move (long-running processes; a command says what it needs)."""
    if settings.clock != "adjustable":
        return None
    apply = partial(apply_record, announce=announce)
    follower = TopicFollower(
        settings.bootstrap(), Topics(settings.topic_prefix).clock, apply, now_ms, "clock"
    )
    follower.start()
    return follower


def advance(settings: Settings, by: timedelta, timeout_s: float = 30.0) -> int:
    """Move the deployment's clock forward by ``by``; return the new offset (ms) once this
    process's clock shows it. Every process that follows the clock topic moves with it."""
    topic = Topics(settings.topic_prefix).clock
    quiet = partial(apply_record, announce=False)  # the command prints the outcome itself
    follower = TopicFollower(settings.bootstrap(), topic, quiet, now_ms, "clock-advance")
    follower.start(timeout_s)
    writer = KafkaWriter(settings.bootstrap(), timeout_s=settings.produce_timeout_s)
    try:
        offset = CLOCK.offset_ms + int(by.total_seconds() * 1000)
        writer.produce_sync(topic, CLOCK_KEY, clock_record(offset), settings.produce_timeout_s)
        deadline = time.monotonic() + timeout_s
        while CLOCK.offset_ms < offset:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the clock topic {topic} did not come back in {timeout_s}s")
            time.sleep(0.01)
        return offset
    finally:
        writer.close()
        follower.stop()


def clock_record(offset_ms: int) -> bytes:
    """The clock topic's record for a new offset."""
    return codec().encode("ClockOffset", {"offset_ms": offset_ms, "set_at": datetime.now(UTC)})
