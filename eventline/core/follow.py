"""Following a compacted topic: read it whole, then apply every new record as it comes.

Accounts, rules and the deployment clock are small compacted topics that every process keeps
in memory. ``TopicFollower`` reads one in a thread and also answers "have I applied every
record written before instant T?" (``wait_applied``): the worker asks it before it applies
rules to an event, so a rule change the API acknowledged before an event was received always
applies to that event.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from eventline.core.errors import TransientError

log = logging.getLogger(__name__)

Apply = Callable[[str, bytes | None], None]
# (partition, offset, key, value): for readers that need to know where a record is.
ApplyAt = Callable[[int, int, str, bytes | None], None]
Now = Callable[[], int]  # epoch milliseconds of the deployment's clock
_Waiter = tuple[int, int, asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class TopicFollower:
    """Reads ``topic`` from the beginning, then follows it, calling ``apply(key, value)`` for
    each record in order (``value`` None: a tombstone), or ``apply_at(partition, offset, key,
    value)`` when given instead. Either runs in the follower's thread and must not raise."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        apply: Apply | None,
        now_ms: Now,
        name: str = "",
        *,
        apply_at: ApplyAt | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        if apply_at is None:
            if apply is None:
                raise ValueError("TopicFollower needs apply or apply_at")
            plain = apply
            apply_at = lambda _p, _o, key, value: plain(key, value)  # noqa: E731
        self._apply_at = apply_at
        self._now_ms = now_ms
        self._stop = threading.Event()
        self._ready = threading.Event()  # assigned, with the end offsets at start known
        self._caught_up = threading.Event()
        self._asker: Consumer | None = None  # asks for end offsets
        self._asking = threading.Lock()
        self._tps: list[TopicPartition] = []
        self._positions: dict[int, int] = {}
        self._applied_until = 0
        self._refresh: asyncio.Lock | None = None  # created in the event loop that waits
        # wait_offset's waiters: (partition, offset, their loop, their future).
        self._waiters: list[_Waiter] = []
        self._waiting = threading.Lock()
        self._thread = threading.Thread(
            target=self._run, name=name or f"follow-{topic}", daemon=True
        )

    @property
    def applied_until(self) -> int:
        """Every record acknowledged by Kafka before this instant (epoch ms) is applied."""
        return self._applied_until

    def start(self, timeout_s: float = 30.0) -> None:
        """Start following; return once the records already on the topic are applied."""
        self._thread.start()
        if not self._caught_up.wait(timeout_s):
            raise TransientError(f"topic {self.topic} not read within {timeout_s:.0f}s")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    async def wait_applied(self, at_ms: int, timeout_s: float) -> bool:
        """Wait until every record written before ``at_ms`` is applied; False at the timeout
        (Kafka does not answer), so the caller goes on with what it has."""
        if self._applied_until >= at_ms:
            return True
        try:
            return await asyncio.wait_for(self._catch_up(at_ms), timeout_s)
        except (TimeoutError, TransientError) as exc:
            log.warning("%s: not read up to %d: %s", self.topic, at_ms, exc)
            return False

    async def wait_offset(self, partition: int, offset: int, timeout_s: float) -> bool:
        """Wait until the record at ``offset`` of ``partition`` is applied (a writer's own
        record: every record before it on that partition is applied too); False at the
        timeout."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        waiter = (partition, offset, loop, future)
        with self._waiting:
            if self._positions.get(partition, 0) > offset:
                return True
            self._waiters.append(waiter)
        try:
            await asyncio.wait_for(future, timeout_s)
            return True
        except TimeoutError:
            log.warning("%s: offset %d of partition %d not read", self.topic, offset, partition)
            return False
        finally:
            with self._waiting:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def _advance(self, partition: int, position: int) -> None:
        """Record that everything before ``position`` of ``partition`` is applied, and wake
        the waiters it satisfies (called in the follower's thread)."""
        with self._waiting:
            self._positions[partition] = max(self._positions.get(partition, 0), position)
            done = [w for w in self._waiters if w[0] == partition and w[1] < position]
            for waiter in done:
                self._waiters.remove(waiter)
        for _, _, loop, future in done:
            loop.call_soon_threadsafe(_settle, future)

    async def _catch_up(self, at_ms: int) -> bool:
        if self._refresh is None:
            self._refresh = asyncio.Lock()
        async with self._refresh:  # one look at the end offsets serves every waiter behind it
            if self._applied_until >= at_ms:
                return True
            as_of = self._now_ms()  # before asking: a later write may be missing
            ends = await asyncio.to_thread(self._ends)
            while any(self._positions.get(p, 0) < end for p, end in ends.items()):
                if not self._thread.is_alive():
                    raise TransientError(f"the follower of {self.topic} stopped")
                await asyncio.sleep(0.001)
            self._applied_until = max(self._applied_until, as_of)
            return self._applied_until >= at_ms

    def _ends(self, timeout_s: float = 10.0) -> dict[int, int]:
        """The end offset of every partition, asked of the broker now (retried while a new
        topic's partitions have no leader yet). A consumer of its own: a call on the
        following consumer would wait behind its poll."""
        if not self._ready.wait(timeout_s):
            raise TransientError(f"the follower of {self.topic} is not connected")
        deadline = time.monotonic() + timeout_s
        with self._asking:
            if self._asker is None:
                self._asker = _consumer(self.bootstrap)
            while True:
                try:
                    return {
                        tp.partition: self._asker.get_watermark_offsets(
                            tp, timeout=timeout_s, cached=False
                        )[1]
                        for tp in self._tps
                    }
                except KafkaException as exc:
                    if time.monotonic() > deadline or self._stop.is_set():
                        raise TransientError(f"end offsets of {self.topic}: {exc}") from exc
                    time.sleep(0.1)

    def _run(self) -> None:
        consumer = _consumer(self.bootstrap)
        try:
            partitions = consumer.list_topics(self.topic, timeout=10).topics[self.topic].partitions
            self._tps = [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions]
            self._positions = dict.fromkeys(partitions, 0)
            consumer.assign(self._tps)
            self._ready.set()
            started = self._now_ms()  # before asking: a later write may be missing
            self._follow(consumer, self._ends(), started)
        except Exception:
            log.exception("following topic %s failed", self.topic)
        finally:
            consumer.close()
            with self._asking:
                if self._asker is not None:
                    self._asker.close()
                    self._asker = None

    def _follow(self, consumer: Consumer, ends_at_start: dict[int, int], started: int) -> None:
        while not self._stop.is_set():
            if not self._caught_up.is_set() and all(
                self._positions[p] >= end for p, end in ends_at_start.items()
            ):
                self._applied_until = max(self._applied_until, started)
                self._caught_up.set()
            message = consumer.poll(0.2)  # returns at the first record: changes apply at once
            if message is None:
                continue
            partition, offset, error = message.partition() or 0, message.offset(), message.error()
            if error is not None and error.code() == KafkaError._PARTITION_EOF:
                self._advance(partition, offset or 0)
            elif error is not None:
                log.warning("topic %s: %s", self.topic, error)
            else:
                key = (message.key() or b"").decode("utf-8", "replace")
                self._apply_at(partition, offset or 0, key, message.value())
                self._advance(partition, (offset or 0) + 1)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():  # not cancelled by its waiter's timeout meanwhile
        future.set_result(None)


def _consumer(bootstrap: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"eventline-follow-{uuid.uuid4()}",  # never commits: reads all
            "enable.auto.commit": False,
            # The end of a partition is reported with its offset: a compacted topic may end
            # in a gap, which the offsets of its records would never reach.
            "enable.partition.eof": True,
            "logger": logging.getLogger("librdkafka"),
        }
    )
