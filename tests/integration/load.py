"""A well-behaved client under load: events with idempotency keys, sent in bulk and one by one,
some sent twice; a 503 or a connection error is retried with the same keys until answered.

It counts what the gateway acknowledged (202), per idempotency key, for a test to compare with
what the pipeline stored. Runs in a thread of its own (asyncio inside), so a test can kill and
restart processes meanwhile.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRY_STATUSES = {502, 503, 504}


@dataclass(frozen=True)
class Send:
    """One request: a bulk array or a single event; ``twin`` sends it twice at once (a resend
    while the first is in flight)."""

    events: tuple[dict[str, Any], ...]
    bulk: bool
    twin: bool = False


@dataclass
class Plan:
    """The events (by idempotency key) and the requests that carry them, in sending order."""

    events: dict[str, dict[str, Any]]
    sends: list[Send]

    @property
    def resends(self) -> int:
        """Sends of a key beyond its first (without the client's own retries)."""
        total = sum(len(s.events) * (2 if s.twin else 1) for s in self.sends)
        return total - len(self.events)


def plan_load(
    events: int,
    contacts: int,
    seed: int = 10,
    bulk_size: int = 100,
    singles_every: int = 20,
    purchase_share: float = 0.2,
) -> Plan:
    """``events`` keyed events of ``contacts`` contacts (``purchase_share`` of them purchases):
    most in bulk requests, every ``singles_every``-th one on its own. Resends: a tenth of the
    singles twice at once, another tenth again later, some bulks again later, and some bulks
    carrying earlier events beside new ones."""
    rng = random.Random(seed)
    by_key: dict[str, dict[str, Any]] = {}
    for i in range(events):
        key = f"crash-{seed}-{i}"
        name = "purchase" if rng.random() < purchase_share else rng.choice(["view_item", "login"])
        by_key[key] = {
            "email": f"c{rng.randrange(contacts)}@crash.example",
            "name": name,
            "idempotency_key": key,
            "properties": {"i": i},
        }
    items = list(by_key.values())
    singles = [e for i, e in enumerate(items) if i % singles_every == 0]
    bulked = [e for i, e in enumerate(items) if i % singles_every != 0]
    chunks = [bulked[i : i + bulk_size] for i in range(0, len(bulked), bulk_size)]
    sends: list[Send] = []
    later: list[tuple[int, Send]] = []  # (position, send) of resends inserted afterwards
    per_chunk = max(1, len(singles) // max(1, len(chunks)))
    for n, chunk in enumerate(chunks):
        carried = rng.sample(items[: n * bulk_size], 10) if n % 10 == 5 else []
        sends.append(Send(tuple(chunk + carried), bulk=True))
        if n % 25 == 3:
            later.append((len(sends) + rng.randrange(20, 60), Send(tuple(chunk), bulk=True)))
        for single in singles[n * per_chunk : (n + 1) * per_chunk]:
            twin = rng.random() < 0.1
            sends.append(Send((single,), bulk=False, twin=twin))
            if not twin and rng.random() < 0.1:
                later.append((len(sends) + rng.randrange(10, 80), Send((single,), bulk=False)))
    for single in singles[len(chunks) * per_chunk :]:
        sends.append(Send((single,), bulk=False))
    for position, send in sorted(later, key=lambda p: p[0], reverse=True):
        sends.insert(min(position, len(sends)), send)
    return Plan(by_key, sends)


@dataclass
class Load:
    """Sends ``plan`` to the gateway at ``url`` for ``account``: paced until ``release()``, then
    as fast as ``concurrency`` allows. The pace is ``interval_s`` between requests for the first
    ``slow_after`` requests, then ``slow_interval_s``: a trickle that keeps the load going
    however long a test's faults take, with most of it left to send."""

    url: str
    account: str
    plan: Plan
    interval_s: float
    slow_after: int
    slow_interval_s: float
    concurrency: int = 16
    deadline_s: float = 240.0
    acked: Counter[str] = field(default_factory=Counter)  # key -> sends answered 202
    event_ids: dict[str, str] = field(default_factory=dict)  # key -> event id answered
    answered_duplicate: int = 0
    retries: Counter[str] = field(default_factory=Counter)  # why a send was retried
    errors: list[str] = field(default_factory=list)  # answers that are neither 202 nor retried
    requests_done: int = 0
    in_flight: int = 0

    def __post_init__(self) -> None:
        self._release = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)
        self.finished = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def release(self) -> None:
        """Stop pacing: send the rest as fast as the gateway answers."""
        self._release.set()

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)
        assert self.finished.is_set(), (
            f"load not finished in {timeout_s:.0f}s: {self.requests_done} of "
            f"{len(self.plan.sends)} requests done, retries {dict(self.retries)}"
        )

    @property
    def acked_events(self) -> int:
        return len(self.acked)

    def _run(self) -> None:
        try:
            asyncio.run(self._send_all())
        finally:
            self.finished.set()

    async def _send_all(self) -> None:
        limit = asyncio.Semaphore(self.concurrency)
        timeout = httpx.Timeout(30.0, connect=5.0)
        pool = httpx.Limits(max_connections=self.concurrency * 2)
        async with httpx.AsyncClient(base_url=self.url, timeout=timeout, limits=pool) as client:
            tasks = []
            for n, send in enumerate(self.plan.sends):
                await limit.acquire()
                tasks.append(asyncio.create_task(self._send_released(client, send, limit)))
                if not self._release.is_set():
                    pause = self.interval_s if n < self.slow_after else self.slow_interval_s
                    await asyncio.sleep(pause)
            await asyncio.gather(*tasks)

    async def _send_released(
        self, client: httpx.AsyncClient, send: Send, limit: asyncio.Semaphore
    ) -> None:
        try:
            copies = 2 if send.twin else 1
            await asyncio.gather(*(self._send_until_answered(client, send) for _ in range(copies)))
        finally:
            self.requests_done += 1
            limit.release()

    async def _send_until_answered(self, client: httpx.AsyncClient, send: Send) -> None:
        body: Any = list(send.events) if send.bulk else send.events[0]
        headers = {"X-Eventline-Account": self.account}
        deadline = time.monotonic() + self.deadline_s
        delay = 0.2
        while True:
            self.in_flight += 1
            try:
                answer = await client.post("/v1/events", json=body, headers=headers)
            except httpx.TransportError as exc:  # connection refused or dropped, timeout
                why = type(exc).__name__
            else:
                if answer.status_code == 202:
                    self._count(send, answer.json())
                    return
                if answer.status_code not in RETRY_STATUSES:
                    self.errors.append(f"{answer.status_code}: {answer.text[:300]}")
                    return
                why = str(answer.status_code)
            finally:
                self.in_flight -= 1
            self.retries[why] += 1
            if time.monotonic() > deadline:
                self.errors.append(f"gave up after {self.deadline_s:.0f}s: last {why}")
                return
            await asyncio.sleep(delay)  # as a client does: back off, same keys
            delay = min(delay * 2, 2.0)

    def _count(self, send: Send, answer: dict[str, Any]) -> None:
        results = answer["results"] if send.bulk else [answer]
        for event, result in zip(send.events, results, strict=True):
            key = event["idempotency_key"]
            self.acked[key] += 1
            known = self.event_ids.setdefault(key, result["event_id"])
            if known != result["event_id"]:
                self.errors.append(f"{key}: event ids {known} and {result['event_id']}")
            if result["status"] == "duplicate":
                self.answered_duplicate += 1
