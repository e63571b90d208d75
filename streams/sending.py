"""Outputs of a batch of records, sent with one confluent-kafka producer; the batch is acked
once Kafka has acknowledged them all.

Faust's own iterator acks a record in a ``finally``: a record whose processing was cancelled
(shutdown, rebalance) would be committed without its outputs. The agents take batches with
``noack_take`` instead. Every output of a record goes through ``send``, which only stages it,
so that an output Kafka would refuse (too large) fails the record before anything of it is
written; ``keep`` moves a finished record's outputs into its batch, and ``Sender.deliver``
sends the batch's outputs and table changes at once and returns when Kafka has them all. Only
then are the batch's records acked, in order: a committed offset implies written outputs.

One producer written in C, one flush per batch: Faust's producer sends each record through
pure-Python code, which capped the worker at a few thousand outputs per second (issue 11).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from prometheus_client import Counter

from eventline.core.errors import InvalidEvent
from eventline.schemas.limits import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)

Output = tuple[str, bytes, bytes]  # topic, key, value
# topic, partition, key, value (None: a deletion)
Placed = tuple[str, int, bytes, bytes | None]

# The outputs of the record being handled, not sent yet.
_STAGED: ContextVar[list[Output]] = ContextVar("eventline_staged")
UNACKED = Counter(
    "eventline_worker_unacked_total",
    "Records left unacknowledged because an output could not be written (replayed on restart)",
)
EXIT_TO_RESTART = 75  # EX_TEMPFAIL: a supervisor (eventline up, systemd) starts it again


def _exit_to_restart(where: str, exc: BaseException) -> None:
    log.critical(
        "%s: an output could not be written after the producer's retries (%s: %s); the "
        "worker exits (code %d) to start again from its last commit: nothing is lost, the "
        "records from this one on were not committed",
        where,
        type(exc).__name__,
        exc,
        EXIT_TO_RESTART,
    )
    logging.shutdown()
    os._exit(EXIT_TO_RESTART)


# What to do when an output is lost after the producer's retries (tests replace it).
on_output_lost: Callable[[str, BaseException], None] = _exit_to_restart


def begin_record() -> None:
    """Start collecting the outputs of a new record."""
    _STAGED.set([])


def topic_name(topic: Any) -> str:
    return topic if isinstance(topic, str) else str(topic.get_topic_name())


async def send(topic: Any, key: str, value: bytes) -> None:
    """Stage an output of the current record. Raises InvalidEvent when Kafka would refuse it
    (larger than ``MAX_MESSAGE_BYTES``): the record fails, and nothing of it is written."""
    encoded = key.encode()
    size = len(encoded) + len(value)
    name = topic_name(topic)
    if size > MAX_MESSAGE_BYTES:
        raise InvalidEvent(
            "event",
            f"its output on {name} would be {size} bytes, more than the "
            f"{MAX_MESSAGE_BYTES} bytes a Kafka message may have",
        )
    _STAGED.get().append((name, encoded, value))


def discard() -> None:
    """Forget the staged outputs (the record is handled again, or failed)."""
    _STAGED.get().clear()


def keep() -> list[Output]:
    """The current record's staged outputs, handed over to its batch."""
    staged = _STAGED.get()
    _STAGED.set([])
    return staged


class Delivery:
    """Counts a batch's delivery reports (producer thread) and settles one future."""

    def __init__(self, loop: asyncio.AbstractEventLoop, expected: int, on_written: Any) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.left = expected
        self.error: KafkaException | None = None
        self.on_written = on_written
        if expected == 0:
            self.future.set_result(None)

    def report(self, error: KafkaError | None, message: Any) -> None:
        if error is not None and self.error is None:
            self.error = KafkaException(error)
        elif error is None and self.on_written is not None:
            self.on_written(message.topic(), message.partition(), message.offset())
        self.left -= 1
        if self.left == 0:
            self.loop.call_soon_threadsafe(self._settle)

    def _settle(self) -> None:
        if not self.future.done():
            if self.error is not None:
                self.future.set_exception(self.error)
            else:
                self.future.set_result(None)

    async def written(self, where: str) -> bool:
        """True once Kafka acknowledged every record of the batch. A record lost after the
        producer's retries calls ``on_output_lost`` (the worker exits to replay from its last
        commit) and answers False: nothing of the batch may be acked."""
        try:
            await asyncio.shield(self.future)
        except KafkaException as exc:
            UNACKED.inc()
            on_output_lost(where, exc)
            return False
        return True


class AckChain:
    """Acks an agent's batches in order, each once Kafka has its outputs and every batch
    before it is acked: the agent goes on with the next batch meanwhile, and a committed
    offset still implies written outputs. At most ``depth`` batches wait at once."""

    def __init__(self, depth: int = 4) -> None:
        self.depth = depth
        self._tasks: deque[asyncio.Task[bool]] = deque()

    async def add(
        self, delivery: Delivery, where: str, events: list[Any], done: Callable[[Any], None]
    ) -> None:
        previous = self._tasks[-1] if self._tasks else None
        self._tasks.append(
            asyncio.ensure_future(self._ack(previous, delivery, where, events, done))
        )
        while self._tasks and (self._tasks[0].done() or len(self._tasks) > self.depth):
            await self._tasks.popleft()

    async def _ack(
        self,
        previous: asyncio.Task[bool] | None,
        delivery: Delivery,
        where: str,
        events: list[Any],
        done: Callable[[Any], None],
    ) -> bool:
        written = await delivery.written(where)
        if previous is not None and not await previous:
            return False  # an earlier batch is unacked: a commit must not pass it
        if not written:
            return False
        for event in events:
            event.ack()
            done(event)
        return True

    async def drain(self) -> None:
        """Wait for every batch in flight."""
        while self._tasks:
            await self._tasks.popleft()


class Sender:
    """The worker's producer: idempotent, ``acks=all``, keys placed by murmur2 like every other
    producer of the pipeline (a key must land on the partition its other records are on)."""

    def __init__(
        self,
        bootstrap: str,
        on_written: Callable[[str, int, int], None] | None = None,
        linger_ms: float = 2.0,
        config: dict[str, Any] | None = None,
    ) -> None:
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": linger_ms,
                "compression.type": "lz4",
                "partitioner": "murmur2_random",
                # above MAX_MESSAGE_BYTES (checked before a record is staged)
                "message.max.bytes": 1_048_576,
                "queue.buffering.max.messages": 1_000_000,
                "logger": logging.getLogger("librdkafka"),
                **(config or {}),
            }
        )
        self._on_written = on_written
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="worker-sender", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    async def send(self, outputs: Sequence[Output], changes: Sequence[Placed] = ()) -> Delivery:
        """Hand a batch's outputs and table changes to the producer (not waiting for Kafka)."""
        delivery = Delivery(
            asyncio.get_running_loop(), len(outputs) + len(changes), self._on_written
        )
        for topic, key, value in outputs:
            await self._produce(topic=topic, key=key, value=value, on_delivery=delivery.report)
        for topic, partition, key, change in changes:
            await self._produce(
                topic=topic,
                partition=partition,
                key=key,
                value=change,
                on_delivery=delivery.report,
            )
        return delivery

    async def deliver(
        self, where: str, outputs: Sequence[Output], changes: Sequence[Placed] = ()
    ) -> bool:
        """``send``, then wait until Kafka has them all (``Delivery.written``)."""
        return await (await self.send(outputs, changes)).written(where)

    async def _produce(self, **message: Any) -> None:
        while True:
            try:
                self._producer.produce(**message)
                return
            except BufferError:  # the local queue is full: let Kafka take some first
                await asyncio.sleep(0.005)

    def close(self, timeout_s: float = 10.0) -> None:
        self._producer.flush(timeout_s)
        self._stop.set()
        self._thread.join(2)
