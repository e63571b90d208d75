"""An asyncio face on confluent-kafka's idempotent producer: a write counts once Kafka acked it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from aiokafka.partitioner import murmur2
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from eventline.core.errors import EventlineError, InvalidEvent, TransientError

log = logging.getLogger(__name__)


def key_partition(key: str, partitions: int) -> int:
    """The partition the producers here put ``key`` on (murmur2, as Java's and aiokafka's
    default partitioner does): records written to it there are in one order with the key's."""
    return int((murmur2(key.encode()) & 0x7FFFFFFF) % partitions)


def producer_config(bootstrap: str, **extra: Any) -> dict[str, Any]:
    """librdkafka settings for writes we acknowledge to users: nothing lost, nothing doubled."""
    return {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,  # no duplicates or reordering on librdkafka's own retries
        "acks": "all",
        # Java-compatible murmur2, the partitioner of aiokafka (the Faust worker) too: a key must
        # land on the same partition whoever writes it, or identity lookups miss.
        "partitioner": "murmur2_random",
        "linger.ms": 1,  # an HTTP client waits for the ack: batch briefly, not for long
        "compression.type": "lz4",
        "logger": logging.getLogger("librdkafka"),  # into Python logging, not raw stderr
        **extra,
    }


# How often an event loop with batches waiting serves delivery reports itself: uvloop's
# timers count whole milliseconds (0.5 ms rounds to 0, a loop spinning on poll(0)).
TICK_S = 0.001


class KafkaWriter:
    """Owns one confluent-kafka Producer. Its delivery reports are served by the event loop
    whose batches wait for them (``poll(0)`` every millisecond while any waits), else by a thread.

    Why the loop: confluent-kafka takes the GIL once per delivery report. Served by another
    thread while the loop is busy (validating the next request), each report waits for the
    loop to let the GIL go (up to the 5 ms switch interval): 4 batches of 100 beside a loop
    busy between awaits were not acknowledged in 11 s; the loop serves them in 7 ms. The thread
    stands by meanwhile: reports it took would wait for the GIL again, one by one.

    A fatal error (e.g. an idempotence sequence error) leaves librdkafka's producer unusable:
    we recreate it rather than wedge every later request.
    """

    def __init__(self, bootstrap: str, timeout_s: float = 10.0, **extra: Any) -> None:
        self._config = producer_config(
            bootstrap,
            # librdkafka gives up on a record before we answer 503: a 503 means "not written",
            # so a client retry cannot double a record that was merely late.
            **{"delivery.timeout.ms": int(timeout_s * 1000), "error_cb": self._on_error, **extra},
        )
        self._timeout_s = timeout_s
        self._fatal = threading.Event()
        self._producer = Producer(self._config)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # Batches waiting on each event loop, and the loops serving reports: touched by each
        # loop's own thread only; the poll thread only reads which loops have batches waiting.
        self._waiting: dict[asyncio.AbstractEventLoop, int] = {}
        self._ticking: set[asyncio.AbstractEventLoop] = set()
        self._poller = threading.Thread(target=self._poll_loop, name="kafka-poll", daemon=True)
        self._poller.start()

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            if any(not loop.is_closed() for loop in tuple(self._waiting)):
                self._stop.wait(0.01)  # a loop serves every report meanwhile
            else:
                self._producer.poll(0.1)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve every delivery report there is; again in TICK_S while batches wait."""
        if not self._waiting.get(loop):
            self._ticking.discard(loop)
            return
        loop.call_later(TICK_S, self._tick, loop)  # first: a report that raises stops nothing
        self._producer.poll(0)

    def _wait_on(self, loop: asyncio.AbstractEventLoop, change: int) -> None:
        """A batch starts (+1) or stops (-1) waiting on ``loop``, which ticks while any does."""
        waiting = self._waiting.get(loop, 0) + change
        if waiting > 0:
            self._waiting[loop] = waiting
        else:
            self._waiting.pop(loop, None)
        if waiting > 0 and loop not in self._ticking:
            self._ticking.add(loop)
            loop.call_soon(self._tick, loop)

    def _on_error(self, err: KafkaError) -> None:
        # Called from librdkafka's threads; a fatal error (e.g. an idempotence sequence error)
        # leaves the producer unusable, so the next produce recreates it.
        if err.fatal():
            log.error("producer fatal error: %s", err)
            self._fatal.set()

    def _recreate_if_fatal(self) -> None:
        if not self._fatal.is_set():
            return
        with self._lock:
            if not self._fatal.is_set():
                return
            log.error("recreating the Kafka producer after a fatal error")
            old, self._producer = self._producer, Producer(self._config)
            self._fatal.clear()
        old.flush(0)

    def produce_sync(self, topic: str, key: str, value: bytes, timeout_s: float) -> None:
        """Write one record and block until Kafka acknowledged it."""
        done = threading.Event()
        errors: list[KafkaError] = []

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                errors.append(err)
            done.set()

        self._produce_now(topic, key, value, delivered)
        if not done.wait(timeout_s + 1):
            raise TransientError(f"Kafka did not acknowledge {topic} key={key} in {timeout_s}s")
        if errors:
            raise refusal(topic, key, errors[0])

    async def produce(self, topic: str, key: str, value: bytes, timeout_s: float) -> None:
        """Write one record; return once Kafka acknowledged it (``acks=all``)."""
        await self.produce_many([(topic, key, value)], timeout_s)

    async def produce_many(
        self, records: Sequence[tuple[str, str, bytes]], timeout_s: float
    ) -> None:
        """Write records; return once Kafka acknowledged every one of them."""
        await self._produce_all([(t, k, v, None) for t, k, v in records], timeout_s)

    async def produce_to(
        self,
        topic: str,
        key: str,
        value: bytes | None,
        timeout_s: float,
        partition: int | None = None,
    ) -> tuple[int, int]:
        """Write one record (a tombstone when ``value`` is None) to ``partition``, or where
        its key goes when None; return (partition, offset) once Kafka acknowledged it."""
        (written,) = await self._produce_all([(topic, key, value, partition)], timeout_s)
        return written

    async def _produce_all(
        self, records: Sequence[tuple[str, str, bytes | None, int | None]], timeout_s: float
    ) -> list[tuple[int, int]]:
        if not records:
            return []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        batch = _Deliveries(loop, len(records))
        self._wait_on(loop, +1)
        try:
            queued = self._queue(records, 0, batch.delivered)
            while queued < len(records):
                # Local queue full: wait for deliveries to drain, without blocking the loop.
                if loop.time() > deadline:
                    raise TransientError("the producer's local queue stayed full")
                await asyncio.sleep(0.01)
                queued = self._queue(records, queued, batch.delivered)
            # librdkafka reports a timeout itself at delivery.timeout.ms; the margin lets its
            # verdict arrive first.
            return await asyncio.wait_for(batch.future, timeout_s + 1)
        except TimeoutError as exc:
            raise TransientError(f"Kafka did not acknowledge {len(records)} records") from exc
        finally:
            self._wait_on(loop, -1)

    def _queue(
        self,
        records: Sequence[tuple[str, str, bytes | None, int | None]],
        start: int,
        on_delivery: Any,
    ) -> int:
        """Queue ``records[start:]`` in one go (one lock, no call per record); the index of
        the first one librdkafka's full local queue refused, ``len(records)`` when none."""
        self._recreate_if_fatal()
        with self._lock:
            produce = self._producer.produce
            for index in range(start, len(records)):
                topic, key, value, partition = records[index]
                try:
                    if partition is None:  # where the partitioner puts the key
                        produce(topic, value, key, on_delivery=on_delivery)
                    else:
                        produce(topic, value, key, partition, on_delivery=on_delivery)
                except BufferError:
                    return index
                except KafkaException as exc:
                    raise refusal(topic, key, exc.args[0]) from exc
        return len(records)

    def _try_produce(
        self,
        topic: str,
        key: str,
        value: bytes | None,
        on_delivery: Any,
        partition: int | None = None,
    ) -> bool:
        """Queue one record; False when librdkafka's local queue is full."""
        self._recreate_if_fatal()
        try:
            with self._lock:
                if partition is None:  # where the partitioner puts the key
                    self._producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                else:
                    self._producer.produce(
                        topic, value=value, key=key, partition=partition, on_delivery=on_delivery
                    )
            return True
        except BufferError:
            return False
        except KafkaException as exc:
            raise refusal(topic, key, exc.args[0]) from exc

    def _produce_now(self, topic: str, key: str, value: bytes, on_delivery: Any) -> None:
        deadline = time.monotonic() + self._timeout_s
        while not self._try_produce(topic, key, value, on_delivery):
            if time.monotonic() > deadline:
                raise TransientError("the producer's local queue stayed full")
            time.sleep(0.01)

    def flush(self, timeout_s: float = 10.0) -> int:
        return int(self._producer.flush(timeout_s))

    def close(self) -> None:
        self.flush()
        self._stop.set()
        self._poller.join(timeout=2)
        # Drop librdkafka's handle now, not at garbage collection: it would keep reconnecting
        # (and logging) after the broker went away.
        del self._producer


class _Deliveries:
    """Kafka's verdicts on a batch of records, settled on the event loop once: when every
    record is acknowledged ((partition, offset) of each, in the order Kafka acknowledged them)
    or at the first refusal. One wake-up of the loop per batch, not one per record."""

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        self.loop = loop
        self.future: asyncio.Future[list[tuple[int, int]]] = loop.create_future()
        self.where: list[tuple[int, int]] = []
        self.waiting = count
        self.failed = False
        self.lock = threading.Lock()  # librdkafka may call back from more than one thread

    def delivered(self, err: KafkaError | None, msg: Message) -> None:
        with self.lock:
            if self.failed:
                return
            if err is not None:
                self.failed = True
                key = msg.key()
                text = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
                self._wake(refusal(msg.topic() or "", text, err))
                return
            self.where.append((msg.partition() or 0, msg.offset() or 0))
            self.waiting -= 1
            if self.waiting == 0:
                self._wake(None)

    def _wake(self, error: EventlineError | None) -> None:
        # A closed loop raises RuntimeError: no one waits, and the poll thread must live on.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._settle, error)

    def _settle(self, error: EventlineError | None) -> None:
        if self.future.done():
            return
        if error is None:
            self.future.set_result(self.where)
        else:
            self.future.set_exception(error)


def refusal(topic: str, key: str, err: KafkaError) -> EventlineError:
    """Kafka's refusal of a record as our error: a record too large is refused for good
    (InvalidEvent: the gateway answers 413, a retry never passes); anything else may heal
    (TransientError: 503, retry with the same key)."""
    if isinstance(err, KafkaError) and err.code() == KafkaError.MSG_SIZE_TOO_LARGE:
        return InvalidEvent("body", f"is too large for Kafka ({topic}): {err.str()}")
    return TransientError(f"Kafka refused {topic} key={key}: {err}")
