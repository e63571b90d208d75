"""The segment clock: contacts whose segments time alone may change get a ContactCheck.

A contact leaves "active in the last 7 days" on day 8 although nothing happens. Each contact's
state says when its segments may next change (``auto.next``, see ``streams.automation``) and
which segment definitions it was evaluated with. A Faust timer scans the contact table of the
partitions this worker owns and, for each contact that is due, writes a ContactCheck to the
by-contact topic under the contact's key: the check is then handled by the same agent, in
order with the contact's events, and its table write goes through the changelog. A timer
cannot write tables itself (Faust refuses a table write outside a stream), and a check that
is lost in a crash is simply issued again, since the due time lives in the table.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiokafka.partitioner import murmur2
from prometheus_client import Counter

from eventline import clock
from schemas.codec import codec
from streams.app import Worker
from streams.automation import is_due

log = logging.getLogger(__name__)

CHECKS = Counter(
    "eventline_worker_segment_checks_total",
    "ContactChecks issued: a window passed (time) or segment definitions changed (definition)",
    ["reason"],
)
MAX_CHECKS_PER_SCAN = 5000  # a definition change on a large account is spread over scans
REISSUE_AFTER_S = 30.0  # a check not handled by then (lost in a rebalance) is issued again


class SegmentClock:
    """Finds due contacts on this worker's partitions and asks for their checks."""

    def __init__(self, w: Worker) -> None:
        self.w = w
        # contact key -> (reason, digest, due, issued at): checks in flight, not issued twice
        self._issued: dict[str, tuple[str, str, Any, float]] = {}
        self._partitions: dict[str, int] = {}

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

    def due(self) -> list[tuple[str, dict[str, Any], str]]:
        """(key, contact, reason) of the contacts to check now, at most MAX_CHECKS_PER_SCAN."""
        owned, now_ms, mono = self._owned(), clock.now_ms(), time.monotonic()
        digests: dict[str, str] = {}
        found = []
        for key, contact in list(self.w.contacts.items()):
            if contact is None or self._partition(key) not in owned:
                continue
            account = contact["account_id"]
            if account not in digests:
                digests[account] = self.w.rules.segments_digest(account)
            reason = is_due(contact, digests[account], now_ms)
            if reason is None:
                self._issued.pop(key, None)
                continue
            mark = (reason, digests[account], (contact.get("auto") or {}).get("next"))
            issued = self._issued.get(key)
            if issued is not None and issued[:3] == mark and mono - issued[3] < REISSUE_AFTER_S:
                continue
            self._issued[key] = (*mark, mono)
            found.append((key, contact, reason))
            if len(found) >= MAX_CHECKS_PER_SCAN:
                break
        return found

    async def scan(self) -> int:
        """Issue the checks that are due; how many. Skipped while Faust recovers tables."""
        app: Any = self.w.app
        if app.rebalancing or getattr(app, "in_recovery", False):
            return 0
        due = self.due()
        at = clock.now()
        for key, contact, reason in due:
            request = {
                "account_id": contact["account_id"],
                "contact_id": contact["contact_id"],
                "reason": reason,
                "due_at": (contact.get("auto") or {}).get("next") or at,
                "issued_at": at,
            }
            value = codec().encode("ContactCheck", request)
            await self.w.by_contact.send(key=key.encode(), value=value, force=True)
            CHECKS.labels(reason).inc()
        if due:
            log.info("issued %d segment checks", len(due))
        return len(due)
