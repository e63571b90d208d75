"""TopicFollower.wait_offset: a writer waits until its own record is applied (no broker: the
follower's thread is stood in for by calls to ``_advance``)."""

from __future__ import annotations

import asyncio
import threading

from eventline.core.follow import TopicFollower


def _follower() -> TopicFollower:
    return TopicFollower("localhost:1", "t", lambda _k, _v: None, lambda: 0)


async def test_a_waiter_wakes_once_its_offset_is_applied_and_not_before() -> None:
    follower = _follower()
    waiting = asyncio.create_task(follower.wait_offset(1, 5, timeout_s=5))
    await asyncio.sleep(0.01)
    follower._advance(1, 5)  # offsets 0..4 applied
    follower._advance(0, 9)  # another partition
    await asyncio.sleep(0.01)
    assert not waiting.done()
    threading.Thread(target=follower._advance, args=(1, 6)).start()  # as the follower thread
    assert await waiting is True


async def test_an_offset_already_applied_answers_at_once_and_a_missing_one_times_out() -> None:
    follower = _follower()
    follower._advance(2, 3)
    assert await follower.wait_offset(2, 2, timeout_s=0.01) is True
    assert await follower.wait_offset(2, 3, timeout_s=0.01) is False
    assert follower._waiters == []  # a waiter that gave up is forgotten
