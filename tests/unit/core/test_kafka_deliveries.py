"""A batch's Kafka verdicts: settled once, when every record is acknowledged or at the first
refusal (naming the refused record's topic and key)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from confluent_kafka import KafkaError

from eventline.core.errors import InvalidEvent, TransientError
from eventline.core.kafka import _Deliveries


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


class FakeProducer:
    """Acknowledges what was produced when polled; records which threads polled while
    batches waited."""

    def __init__(self) -> None:
        self.queued: list[tuple[Any, Msg]] = []
        self.pollers: list[str] = []

    def produce(self, topic: str, value: bytes, key: str, *rest: Any, on_delivery: Any) -> None:
        self.queued.append((on_delivery, Msg(topic, key.encode(), 0, len(self.queued))))

    def poll(self, timeout: float) -> int:
        import threading
        import time

        served, self.queued = self.queued, []
        if served:
            self.pollers.append(threading.current_thread().name)
        for callback, msg in served:
            callback(None, msg)
        if not served and timeout:
            time.sleep(min(timeout, 0.01))
        return len(served)

    def flush(self, timeout: float) -> int:
        self.poll(0)
        return 0


def test_a_waiting_loop_serves_reports_and_a_busy_one_is_not_starved() -> None:
    import time

    from eventline.core.kafka import KafkaWriter

    writer = KafkaWriter("127.0.0.1:1", timeout_s=5)
    fake = FakeProducer()
    writer._producer = fake  # type: ignore[assignment]

    async def busy(stop: asyncio.Event) -> None:
        while not stop.is_set():
            end = time.perf_counter() + 0.002
            while time.perf_counter() < end:  # CPU work between awaits, as a gateway's
                pass
            await asyncio.sleep(0)

    async def run() -> None:
        stop = asyncio.Event()
        hog = asyncio.create_task(busy(stop))
        records = [("t", f"k{i}", b"v") for i in range(100)]
        await asyncio.wait_for(
            asyncio.gather(*(writer.produce_many(records, 5) for _ in range(4))), 3
        )
        stop.set()
        await hog

    try:
        asyncio.run(run())
        asyncio.run(run())  # a second loop, after the first closed
    finally:
        writer._stop.set()
    # The waiting loop served reports itself (the poll thread serves some too); nothing is
    # left waiting or ticking.
    assert "MainThread" in fake.pollers
    assert not writer._waiting and not writer._ticking
