"""The member index's bounded set and its answers (the follower replaced by a stub)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from eventline.core.settings import Settings
from eventline.producers import members
from eventline.producers.members import ENTRY, DigestSet, MemberIndex, is_member_key, member_key


def test_the_digest_set_finds_every_digest_added_and_no_other() -> None:
    rng = random.Random(7)
    added = [rng.getrandbits(64) for _ in range(200_000)]
    digests = DigestSet()
    for d in added:
        digests.add(d)
    assert len(digests) == len(set(added))
    assert all(d in digests for d in added[::97])
    assert sum(rng.getrandbits(64) in digests for _ in range(10_000)) == 0


def test_the_digest_set_costs_about_8_bytes_an_entry_once_merged() -> None:
    digests = DigestSet()
    for d in range(1, 500_001):
        digests.add(d * 2654435761 % 2**64)
    assert digests._sorted.itemsize == 8 and len(digests._recent) < len(digests) // 4
    ordered = list(digests._sorted[:1001])
    assert ordered == sorted(set(ordered))


def test_only_hash_claims_are_member_keys() -> None:
    assert is_member_key(member_key("acme", "AB" * 16)) and member_key("a", "AB") == "a/md5/ab"
    assert not is_member_key("acme/email/a@x.com") and not is_member_key("acme/user/md5")


class StubFollower:
    def __init__(self, caught_up: bool, then: list[str] | None = None) -> None:
        self.caught_up, self.then, self.asked = caught_up, then or [], 0

    async def wait_applied(self, at_ms: int, timeout_s: float) -> bool:
        self.asked += 1
        return self.caught_up


def _index(monkeypatch: pytest.MonkeyPatch, follower: Any, limit: int = 10) -> MemberIndex:
    index = MemberIndex(Settings(member_index_max=limit))
    index._follower = follower
    index.backfilled = True
    return index


def test_a_known_hash_is_answered_from_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    follower = StubFollower(caught_up=True)
    index = _index(monkeypatch, follower)
    index._apply(member_key("acme", "a" * 32), ENTRY)
    assert asyncio.run(index.knows("acme", "A" * 32)) is True and follower.asked == 0
    assert asyncio.run(index.knows("other", "a" * 32)) is False and follower.asked == 1


def test_an_index_that_cannot_read_to_the_end_never_says_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index = _index(monkeypatch, StubFollower(caught_up=False))
    assert asyncio.run(index.knows("acme", "b" * 32)) is None


def test_an_index_past_its_bound_never_says_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    index = _index(monkeypatch, StubFollower(caught_up=True), limit=2)
    for h in ("1", "2", "3"):
        index._apply(member_key("acme", h * 32), ENTRY)
    assert index.overflowed and asyncio.run(index.knows("acme", "1" * 32)) is True
    assert asyncio.run(index.knows("acme", "3" * 32)) is None


def test_a_member_read_while_catching_up_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    index = _index(monkeypatch, None)

    class Reads(StubFollower):
        async def wait_applied(self, at_ms: int, timeout_s: float) -> bool:
            index._apply(member_key("acme", "c" * 32), ENTRY)  # written by another process
            return True

    index._follower = Reads(caught_up=True)  # type: ignore[assignment]
    assert asyncio.run(index.knows("acme", "c" * 32)) is True
    assert members.MERGE_AT > 0


def test_an_index_not_backfilled_yet_never_says_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    index = _index(monkeypatch, StubFollower(caught_up=True))
    index.backfilled = False
    index._apply(member_key("acme", "d" * 32), ENTRY)
    assert asyncio.run(index.knows("acme", "d" * 32)) is True
    assert asyncio.run(index.knows("acme", "e" * 32)) is None
