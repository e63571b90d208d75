"""Which errors heal and which never will, for one record of the worker. Pure.

An error that heals (Kafka unreachable, a leader moving, a timeout) blocks the partition and
is retried: skipping the record would lose it. An error that is about the record itself (too
large for Kafka, corrupt, past a bound, a bug our code hits on it) never heals: retrying it
would stop the partition for good, so the record is marked ``failed`` with the reason and the
partition moves on. Anything unknown from Kafka is taken to heal: an operator can fix a broker
or an ACL, but not a record that was marked failed and skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

from aiokafka.errors import (
    CorruptRecordException,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)
from faust.exceptions import ProducerSendError

from eventline.core.errors import InvalidEvent

# Kafka's answers that are about the record sent, not the cluster: the same record always
# gets the same answer.
RECORD_ERRORS = (MessageSizeTooLargeError, RecordListTooLargeError, CorruptRecordException)
INFRASTRUCTURE = (ConnectionError, TimeoutError, OSError, KafkaError, ProducerSendError)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and those it was raised from (Faust wraps Kafka's errors)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def heals(exc: BaseException) -> bool:
    """True when retrying the same record later can succeed."""
    chain = list(_chain(exc))
    if any(isinstance(e, (*RECORD_ERRORS, InvalidEvent)) for e in chain):
        return False
    return any(isinstance(e, INFRASTRUCTURE) for e in chain)


def reason(exc: BaseException) -> str:
    """One line for ``process_error``: what about the record failed."""
    for e in _chain(exc):
        if isinstance(e, InvalidEvent):
            return str(e)
        if isinstance(e, RECORD_ERRORS):
            return f"Kafka refused an output of this record: {type(e).__name__}: {e}"
    return f"internal error: {type(exc).__name__}: {exc}"
