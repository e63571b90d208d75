"""The member index: which subscriber hashes name a contact, known to every gateway process
without waiting for the worker, so the Mailchimp dialect answers 404 for an unknown member at
once (Mailchimp's clients rely on "on 404, add the member, then retry").

Why a topic of its own, written by whoever registers a contact, rather than the worker's
``contacts`` topic: a hash names a contact exactly when a registration with its email wrote
the ``account/md5/<hash>`` alias claim to ``incoming`` (eventline.schemas.model.alias_claims);
nothing else makes the worker resolve a hash. The gateway (and the producer client) write each such
claim's key to the compacted ``<prefix>.members`` topic as well, after the claim itself is
acknowledged and before the registration is answered. So:

- the index says "member" exactly when the worker will resolve the hash (the claim is on
  ``incoming`` before the index entry exists, so an event accepted on the index's word lands
  after its claim);
- a member add is answered once Kafka holds its entry, and a gateway process that does not
  know a hash reads the topic up to the end offsets it asks the broker for *before* it
  answers 404 (``knows``). With several gateway processes on one port, the retry after an
  add finds the member whichever process answers it, with no wait on the worker: a worker
  that is behind or down delays events, never the 404 decision;
- the ``contacts`` topic would have said "member" only after the worker processed the
  registration: an add would have had to wait for the worker, or the retry could see a false
  404.

Memory is bounded: an entry is about 12 bytes (a 64-bit digest of the key in a sorted array,
recent entries in a set that numpy merges into it as it grows; twice that during a merge),
and past ``EVENTLINE_MEMBER_INDEX_MAX`` entries the index stops answering "unknown" (the
dialect then accepts the event, and the worker fails it if the hash names no one: the
behaviour without an index). A digest collision (odds about n²/2⁶⁵) has the same outcome
for one hash. An index that has not read the topic up to the broker's end never answers
"unknown" either: a start serves 404s only once loaded, and, on the first start after an
upgrade, once the hashes registered before the topic existed are copied into it
(producers/member_backfill.py). Loading costs about a second per million members.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import threading
import time
from array import array
from typing import Any

import numpy as np
from prometheus_client import Gauge

from eventline.core.follow import TopicFollower
from eventline.core.settings import Settings
from eventline.core.topics import Topics
from eventline.schemas.model import identity_key

log = logging.getLogger(__name__)

MEMBERS = Gauge(
    "eventline_gateway_member_index_entries",
    "Subscriber hashes in this gateway process's member index",
    multiprocess_mode="max",
)
MERGE_AT = 65_536  # recent entries kept in a set before they join the sorted array
ENTRY = b"member"  # the value of an index record: the key is its content
MARKER = "backfill/identities"  # written once the upgrade copy is complete (member_backfill)


def member_key(account: str, subscriber_hash: str) -> str:
    """The key of a member's index record (its alias claim's key on ``incoming``)."""
    return identity_key(account, "md5", subscriber_hash.lower())


def is_member_key(key: str) -> bool:
    """Whether an identity claim's key names a subscriber hash (and so goes to the index)."""
    return key.split("/", 2)[1:2] == ["md5"]


def _digest(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


class DigestSet:
    """A set of 64-bit digests at about 8 bytes each: a sorted array (looked up by bisection),
    and the digests added since its last merge in a set (merged in by numpy, in C and linear
    time, once they are an eighth of it). One thread adds; any thread reads."""

    def __init__(self) -> None:
        self._sorted = array("Q")
        self._recent: set[int] = set()

    def __len__(self) -> int:
        return len(self._sorted) + len(self._recent)

    def __contains__(self, digest: object) -> bool:
        if digest in self._recent:
            return True
        ordered = self._sorted  # one reference: a merge may swap it meanwhile
        i = bisect.bisect_left(ordered, digest)  # type: ignore[call-overload]
        return bool(i < len(ordered) and ordered[i] == digest)

    def add(self, digest: int) -> None:
        # No lookup first (it would cost more than the add): the merge drops the digests
        # the array has already, so ``len`` counts one that came twice until then.
        self._recent.add(digest)
        if len(self._recent) >= max(MERGE_AT, len(self._sorted) // 8):
            self._merge()

    def _merge(self) -> None:
        new = np.fromiter(self._recent, dtype=np.uint64, count=len(self._recent))
        new.sort()
        old = np.frombuffer(self._sorted, dtype=np.uint64)
        at = np.searchsorted(old, new)
        if len(old):
            new, at = _not_in(old, new, at)
        merged = array("Q", np.insert(old, at, new).tobytes())
        self._sorted = merged  # readers see the new array before the set empties
        self._recent = set()


def _not_in(
    old: np.ndarray[Any, Any], new: np.ndarray[Any, Any], at: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The digests of ``new`` (sorted) that ``old`` lacks, with their insertion points."""
    fresh = old[np.minimum(at, len(old) - 1)] != new
    return new[fresh], at[fresh]


class MemberIndex:
    """Every gateway process's view of the ``members`` topic (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.limit = settings.member_index_max
        self.wait_s = settings.member_index_wait_s
        self.topic = Topics(settings.topic_prefix).members
        self.settings = settings
        self._known = DigestSet()
        self._adding = threading.Lock()  # the follower and the upgrade copy both add
        self.overflowed = False
        self._marker_seen = False
        self.backfilled = False  # the hashes registered before this topic existed are in
        self._follower = TopicFollower(
            settings.bootstrap(), self.topic, self._apply, _now_ms, name="follow-members"
        )

    def start(self) -> None:
        """Start reading the topic in the background: the gateway serves at once, and the
        first ``knows`` that needs the index waits until it is loaded."""
        threading.Thread(target=self._start, name="members-start", daemon=True).start()

    def _start(self) -> None:
        from eventline.producers.member_backfill import backfill

        try:
            self._follower.start(timeout_s=3600)
            # Only a marker read in the initial load counts: every copied record was
            # acknowledged before it, so the load read them all, on every partition.
            if not self._marker_seen:
                backfill(self.settings, self._add)
            self.backfilled = True
        except Exception as exc:  # knows() keeps answering None: the worker decides
            log.error("member index: %s", exc)

    def stop(self) -> None:
        self._follower.stop()

    def _apply(self, key: str, value: bytes | None) -> None:
        if key == MARKER and value is not None:
            self._marker_seen = True
        if value is None or not is_member_key(key):
            return  # members are never removed today: a tombstone would come from no writer
        self._add(key)

    def _add(self, key: str) -> None:
        with self._adding:
            self._add_locked(key)

    def _add_locked(self, key: str) -> None:
        if len(self._known) >= self.limit:
            if not self.overflowed:
                log.error(
                    "member index: more than EVENTLINE_MEMBER_INDEX_MAX=%d members; unknown "
                    "hashes are now accepted and failed by the worker instead of 404",
                    self.limit,
                )
            self.overflowed = True
            return
        self._known.add(_digest(key))
        MEMBERS.set(len(self._known))

    async def knows(self, account: str, subscriber_hash: str) -> bool | None:
        """True: the hash names a member. False: it names no member, after reading the topic
        up to the end offsets asked of the broker now (so a member added through any process
        and answered before this call is found). None: cannot tell (the index is past its
        bound, or the topic could not be read within ``EVENTLINE_MEMBER_INDEX_WAIT_S``)."""
        digest = _digest(member_key(account, subscriber_hash))
        if digest in self._known:
            return True
        if self.overflowed or not self.backfilled:
            return None
        if not await self._follower.wait_applied(_now_ms(), self.wait_s):
            return None
        if digest in self._known:
            return True
        return None if self.overflowed or not self.backfilled else False


def _now_ms() -> int:
    # Only compared with itself (the follower's catch-up instants): system time is right even
    # when the deployment clock is adjustable.
    return int(time.time() * 1000)
