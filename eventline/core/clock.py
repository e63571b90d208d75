"""The deployment's clock: system time, or system time plus an adjustable offset.

Segment windows close and late-event cut-offs pass with time. To show or test that without
waiting days, a deployment can run with ``EVENTLINE_CLOCK=adjustable``: every process (gateway,
worker, sink) then adds the offset published on the compacted topic ``<prefix>.clock``, which
``eventline clock advance 2h`` moves forward. The offset only ever grows, so no process sees
time go backwards. With the default ``system`` clock the topic is never read.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from functools import partial

from eventline.core.follow import TopicFollower
from eventline.core.settings import Settings
from eventline.core.topics import Topics

log = logging.getLogger(__name__)
CLOCK_KEY = "clock"


class Clock:
    """System time plus ``offset_ms`` (0 unless the deployment's clock is adjustable)."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def now(self) -> datetime:
        if not self.offset_ms:  # the system clock: no offset to add (called per record)
            return datetime.now(UTC)
        return datetime.now(UTC) + timedelta(milliseconds=self.offset_ms)

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.offset_ms

    def apply(self, _key: str, value: bytes | None, announce: bool = True) -> None:
        """Apply one record of the clock topic (``announce``: log the new offset)."""
        from eventline.schemas.codec import codec  # eventline.schemas.model imports this module

        if value is None:
            return
        try:
            offset = int(codec().decode("ClockOffset", value)["offset_ms"])
        except Exception as exc:
            log.error("clock topic: skipping undecodable record: %s", exc)
            return
        if offset > self.offset_ms and announce:
            log.warning("the deployment clock is %s ahead of system time", _human(offset))
        self.offset_ms = max(self.offset_ms, offset)


CLOCK = Clock()


def now() -> datetime:
    """The deployment's current time (UTC)."""
    return CLOCK.now()


def now_ms() -> int:
    """The deployment's current time in epoch milliseconds."""
    return CLOCK.now_ms()


def follow_clock(settings: Settings, announce: bool = True) -> TopicFollower | None:
    """With an adjustable clock, follow the clock topic (started, caught up); else None.
    ``announce``: log each move (long-running processes; a command says what it needs)."""
    if settings.clock != "adjustable":
        return None
    apply = partial(CLOCK.apply, announce=announce)
    follower = TopicFollower(
        settings.bootstrap(), Topics(settings.topic_prefix).clock, apply, now_ms, "clock"
    )
    follower.start()
    return follower


def advance(settings: Settings, by: timedelta, timeout_s: float = 30.0) -> int:
    """Move the deployment's clock forward by ``by``; return the new offset (ms) once this
    process's clock shows it. Every process that follows the clock topic moves with it."""
    from eventline.core.kafka import KafkaWriter

    topic = Topics(settings.topic_prefix).clock
    quiet = partial(CLOCK.apply, announce=False)  # the command prints the outcome itself
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


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``8d`` or ``1w`` (a plain number is seconds)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    text = text.strip().lower()
    unit = text[-1] if text and text[-1] in units else "s"
    number = text[:-1] if text and text[-1] in units else text
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (try 90s, 15m, 2h, 8d)") from None
    if seconds <= 0:
        raise ValueError(f"the clock only moves forward: {text!r}")
    return timedelta(seconds=seconds)


def clock_record(offset_ms: int) -> bytes:
    """The clock topic's record for a new offset."""
    from eventline.schemas.codec import codec

    return codec().encode("ClockOffset", {"offset_ms": offset_ms, "set_at": datetime.now(UTC)})


def _human(offset_ms: int) -> str:
    return str(timedelta(milliseconds=offset_ms))
