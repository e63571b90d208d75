"""The segment clock: contacts whose segments time alone may change get a ContactCheck.

A contact leaves "active in the last 7 days" on day 8 although nothing happens. Each contact's
state says when its segments may next change (``auto.next``, see ``eventline.streams.automation``)
and which segment definitions it was evaluated with (``auto.digest``). A Faust timer finds the
contacts that are due on the partitions this worker owns and writes a ContactCheck to the
by-contact topic under the contact's key: the check is handled by the same agent, in order
with the contact's events, and its table write goes through the changelog. (A timer cannot
write tables itself: Faust refuses a table write outside a stream.) A check lost in a crash is
issued again, since the due time lives in the table.

The clock keeps an index of the contact table in memory (due times in a heap, contacts by
account), fed by every write of the agent and rebuilt from the table after each rebalance,
so a tick costs the due contacts, not a scan of every contact.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections import deque
from functools import partial
from typing import Any

from aiokafka.partitioner import murmur2
from prometheus_client import Counter

from eventline.core import clock
from eventline.schemas.codec import codec
from eventline.streams.automation import is_due

log = logging.getLogger(__name__)

CHECKS = Counter(
    "eventline_worker_segment_checks_total",
    "ContactChecks issued: a window passed (time) or segment definitions changed (definition)",
    ["reason"],
)
MAX_CHECKS_PER_TICK = 5000  # a definition change on a large account is spread over ticks


class SegmentClock:
    """Finds the contacts to check and asks for their checks."""

    def __init__(self, w: Any) -> None:
        self.w = w
        self._heap: list[tuple[int, str]] = []  # (due ms, key); stale entries are skipped
        self._due: dict[str, int] = {}  # key -> its current due time
        self._accounts: dict[str, set[str]] = {}  # account -> keys
        self._digests: dict[str, str | None] = {}  # account -> definitions last swept
        self._sweep: deque[str] = deque()  # keys to look at for a definition change
        self._partitions: dict[str, int] = {}
        self._generation: int | None = None

    def note(self, key: str, contact: dict[str, Any], retry: bool = False) -> None:
        """Index a contact the agent has just written (``retry``: a check of it was asked for
        but not done: ask again)."""
        if retry:
            self._due.pop(key, None)
            self._sweep.append(key)
        account = contact["account_id"]
        if account not in self._accounts:
            self._accounts[account] = set()
            self._digests.setdefault(account, None)
        self._accounts[account].add(key)
        due = (contact.get("auto") or {}).get("next")
        if due is None:
            self._due.pop(key, None)
        elif self._due.get(key) != due:
            self._due[key] = due
            heapq.heappush(self._heap, (due, key))
            if len(self._heap) > 2 * len(self._due) + 1000:  # mostly stale: rebuild
                self._heap = [(d, k) for k, d in self._due.items()]
                heapq.heapify(self._heap)

    async def tick(self) -> int:
        """Issue the checks that are due; how many. Nothing while Faust recovers tables."""
        app = self.w.app
        if app.rebalancing or getattr(app, "in_recovery", False):
            return 0
        owned = self._owned()
        generation = app.consumer_generation_id
        if self._generation != generation:
            tables = self.w.contact_tables
            async with tables.lock:  # restored first: partitions without new records too
                await tables.ready(owned, owned, generation)
            await self._rebuild()
            self._generation = generation
        due = self._definition_checks(owned) + self._time_checks(owned)
        at = clock.now()
        for i, (key, contact, reason) in enumerate(due):
            request = {
                "account_id": contact["account_id"],
                "contact_id": contact["contact_id"],
                "reason": reason,
                "due_at": (contact.get("auto") or {}).get("next") or at,
                "issued_at": at,
            }
            value = codec().encode("ContactCheck", request)
            try:
                delivery = await self.w.by_contact.send(key=key.encode(), value=value, force=True)
            except Exception:
                for unsent_key, unsent, _reason in due[i:]:  # not asked: ask at the next tick
                    self.note(unsent_key, unsent, retry=True)
                raise
            delivery.add_done_callback(partial(self._delivered, key, contact))
            CHECKS.labels(reason).inc()
        if due:
            log.info("issued %d segment checks", len(due))
        return len(due)

    def _delivered(self, key: str, contact: dict[str, Any], delivery: Any) -> None:
        if delivery.cancelled() or delivery.exception() is not None:
            self.note(key, contact, retry=True)

    async def _rebuild(self) -> None:
        """Index the whole table (after a rebalance, the partitions and the table changed)."""
        self._heap, self._due, self._accounts, self._digests = [], {}, {}, {}
        self._sweep.clear()
        for i, key in enumerate(list(self.w.contacts.keys())):
            contact = self.w.contacts.get(key)  # as it is now: the agents run in between
            if contact is not None:
                self.note(key, contact)
            if i % 2000 == 1999:
                await asyncio.sleep(0)

    def _definition_checks(self, owned: set[int]) -> list[tuple[str, dict[str, Any], str]]:
        for account, keys in self._accounts.items():
            digest = self.w.rules.segments_digest(account)
            if self._digests.get(account) != digest:
                self._digests[account] = digest
                self._sweep.extend(keys)
        found: list[tuple[str, dict[str, Any], str]] = []
        now_ms = clock.now_ms()
        while self._sweep and len(found) < MAX_CHECKS_PER_TICK:
            key = self._sweep.popleft()
            contact = self.w.contacts.get(key)
            if contact is None or self._partition(key) not in owned:
                continue
            digest = self._digests.get(contact["account_id"]) or ""
            if is_due(contact, digest, now_ms) == "definition":
                found.append((key, contact, "definition"))
        return found

    def _time_checks(self, owned: set[int]) -> list[tuple[str, dict[str, Any], str]]:
        found: list[tuple[str, dict[str, Any], str]] = []
        now_ms = clock.now_ms()
        while self._heap and self._heap[0][0] <= now_ms and len(found) < MAX_CHECKS_PER_TICK:
            due, key = heapq.heappop(self._heap)
            if self._due.get(key) != due:
                continue  # a newer due time replaced this one
            del self._due[key]  # the check's outcome is indexed again by note()
            contact = self.w.contacts.get(key)
            if contact is not None and self._partition(key) in owned:
                found.append((key, contact, "time"))
        return found

    def _partition(self, key: str) -> int:
        """The key's partition, as every producer's murmur2 partitioner computes it."""
        found = self._partitions.get(key)
        if found is None:
            found = (murmur2(key.encode()) & 0x7FFFFFFF) % self.w.settings.partitions
            self._partitions[key] = found
        return found

    def _owned(self) -> set[int]:
        topic = self.w.names.by_contact
        return {tp.partition for tp in self.w.app.assignor.assigned_actives() if tp.topic == topic}
