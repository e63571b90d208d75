"""The deployment's clock: system time, or system time plus an adjustable offset.

Segment windows close and late-event cut-offs pass with time. To show or test that without
waiting days, a deployment can run with ``EVENTLINE_CLOCK=adjustable``: every process (gateway,
worker, sink) then adds the offset published on the compacted topic ``<prefix>.clock``, which
``eventline clock advance 2h`` moves forward. The offset only ever grows, so no process sees
time go backwards. With the default ``system`` clock the topic is never read.

The topic itself (its record, following it, moving it) is ``eventline.schemas.clock_topic``.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

log = logging.getLogger(__name__)


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

    def move_to(self, offset_ms: int, announce: bool = True) -> None:
        """Take a published offset (``announce``: log it). The offset never goes back."""
        if offset_ms > self.offset_ms and announce:
            log.warning("the deployment clock is %s ahead of system time", _human(offset_ms))
        self.offset_ms = max(self.offset_ms, offset_ms)


CLOCK = Clock()


def now() -> datetime:
    """The deployment's current time (UTC)."""
    return CLOCK.now()


def now_ms() -> int:
    """The deployment's current time in epoch milliseconds."""
    return CLOCK.now_ms()


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


def _human(offset_ms: int) -> str:
    return str(timedelta(milliseconds=offset_ms))
