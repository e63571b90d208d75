"""A batch's Kafka verdicts: settled once, when every record is acknowledged or at the first
refusal (naming the refused record's topic and key)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from confluent_kafka import KafkaError

from eventline.errors import InvalidEvent, TransientError
from producers.kafka import _Deliveries


class Msg:
    def __init__(self, topic: str, key: bytes, partition: int, offset: int) -> None:
        self._values = (topic, key, partition, offset)

    def topic(self) -> str:
        return self._values[0]

    def key(self) -> bytes:
        return self._values[1]

    def partition(self) -> int:
        return self._values[2]

    def offset(self) -> int:
        return self._values[3]


async def _settle(verdicts: list[tuple[Any, Msg]], count: int) -> Any:
    batch = _Deliveries(asyncio.get_running_loop(), count)
    for err, msg in verdicts:
        batch.delivered(err, msg)  # type: ignore[arg-type]
    return await asyncio.wait_for(batch.future, 1)


def test_every_ack_settles_with_where_each_record_went() -> None:
    acks = [(None, Msg("t", b"k%d" % i, i % 3, 10 + i)) for i in range(5)]
    assert asyncio.run(_settle(acks, 5)) == [(i % 3, 10 + i) for i in range(5)]


def test_a_batch_waits_for_its_last_ack() -> None:
    async def waits() -> bool:
        batch = _Deliveries(asyncio.get_running_loop(), 2)
        batch.delivered(None, Msg("t", b"k", 0, 1))  # type: ignore[arg-type]
        await asyncio.sleep(0.01)
        return batch.future.done()

    assert asyncio.run(waits()) is False


def test_the_first_refusal_names_the_record() -> None:
    verdicts = [
        (None, Msg("t", b"a", 0, 1)),
        (KafkaError(KafkaError._MSG_TIMED_OUT), Msg("t.incoming", b"acme/email/x", 0, -1)),
        (KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), Msg("t", b"b", 0, -1)),
    ]
    with pytest.raises(TransientError, match=r"t\.incoming key=acme/email/x"):
        asyncio.run(_settle(verdicts, 3))


def test_a_record_too_large_is_refused_for_good() -> None:
    verdicts = [(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), Msg("t", b"k", 0, -1))]
    with pytest.raises(InvalidEvent):
        asyncio.run(_settle(verdicts, 2))
