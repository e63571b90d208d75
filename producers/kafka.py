"""An asyncio face on confluent-kafka's idempotent producer: a write counts once Kafka acked it."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from eventline.errors import TransientError

log = logging.getLogger(__name__)


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
        **extra,
    }


class KafkaWriter:
    """Owns one confluent-kafka Producer and a thread that serves its delivery callbacks.

    A fatal error (e.g. an idempotence sequence error) leaves librdkafka's producer unusable:
    we recreate it rather than wedge every later request.
    """

    def __init__(self, bootstrap: str, **extra: Any) -> None:
        self._config = producer_config(bootstrap, **extra)
        self._producer = Producer(self._config)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll_loop, name="kafka-poll", daemon=True)
        self._poller.start()

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.1)

    def _recreate(self, reason: KafkaError) -> None:
        with self._lock:
            log.error("producer fatal error %s: recreating the producer", reason)
            old, self._producer = self._producer, Producer(self._config)
        old.flush(1)

    def produce_sync(self, topic: str, key: str, value: bytes, timeout_s: float) -> None:
        """Write one record and block until Kafka acknowledged it."""
        done = threading.Event()
        errors: list[KafkaError] = []

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                errors.append(err)
            done.set()

        self._produce(topic, key, value, delivered)
        if not done.wait(timeout_s):
            raise TransientError(f"Kafka did not acknowledge {topic} key={key} in {timeout_s}s")
        if errors:
            self._raise(errors[0], topic, key)

    async def produce(self, topic: str, key: str, value: bytes, timeout_s: float) -> None:
        """Write one record; return once Kafka acknowledged it (``acks=all``)."""
        await self.produce_many([(topic, key, value)], timeout_s)

    async def produce_many(
        self, records: Sequence[tuple[str, str, bytes]], timeout_s: float
    ) -> None:
        """Write records; return once Kafka acknowledged every one of them."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []
        for topic, key, value in records:
            future: asyncio.Future[None] = loop.create_future()
            futures.append(future)
            self._produce(topic, key, value, _callback(loop, future, topic, key, self))
        try:
            await asyncio.wait_for(asyncio.gather(*futures), timeout_s)
        except TimeoutError as exc:
            raise TransientError(f"Kafka did not acknowledge {len(futures)} records") from exc

    def _produce(self, topic: str, key: str, value: bytes, on_delivery: Any) -> None:
        deadline = time.monotonic() + 5
        while True:
            try:
                with self._lock:
                    self._producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                return
            except BufferError as exc:
                # Local queue full: wait for deliveries to drain instead of failing the request.
                if time.monotonic() > deadline:
                    raise TransientError("producer queue is full") from exc
                self._producer.poll(0.05)
            except KafkaException as exc:
                raise TransientError(f"cannot produce to {topic}: {exc}") from exc

    def _raise(self, err: KafkaError, topic: str, key: str) -> None:
        if err.fatal():
            self._recreate(err)
        raise TransientError(f"Kafka refused {topic} key={key}: {err}")

    def flush(self, timeout_s: float = 10.0) -> int:
        return int(self._producer.flush(timeout_s))

    def close(self) -> None:
        self.flush()
        self._stop.set()
        self._poller.join(timeout=2)


def _callback(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[None],
    topic: str,
    key: str,
    writer: KafkaWriter,
) -> Any:
    def delivered(err: KafkaError | None, _msg: Message) -> None:
        def settle() -> None:
            if future.done():
                return
            if err is None:
                future.set_result(None)
                return
            try:
                writer._raise(err, topic, key)
            except TransientError as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(settle)

    return delivered
