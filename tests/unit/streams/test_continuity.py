"""Every offset is handled once, in order: records Faust skipped are read again."""

from collections import defaultdict

import pytest

from eventline.streams.continuity import IDLE_AFTER_S, HeldReadOffsets, OffsetGuard

TP = ("eventline.incoming", 0)


def test_records_in_order_from_the_committed_offset_are_handled() -> None:
    guard = OffsetGuard()
    assert guard.check(TP, 10, 10, 1, 0.0) == ("handle", 10)
    assert guard.check(TP, 11, 10, 1, 0.0) == ("handle", 11)


def test_a_record_beyond_the_expected_offset_is_a_hole_to_read_first() -> None:
    guard = OffsetGuard()
    assert guard.check(TP, 13, 10, 1, 0.0) == ("hole", 10)  # 10, 11, 12 were dropped
    assert guard.check(TP, 14, 10, 1, 0.1) == ("handle", 14)  # read again with 13: go on


def test_a_hole_after_handled_records_starts_at_the_first_missing_offset() -> None:
    guard = OffsetGuard()
    guard.check(TP, 10, 10, 1, 0.0)
    assert guard.check(TP, 12, 10, 1, 0.0) == ("hole", 11)


def test_records_fetched_again_are_handled_once() -> None:
    guard = OffsetGuard()
    for offset in (20, 21, 22):
        guard.check(TP, offset, 20, 1, 0.0)
    assert guard.check(TP, 21, 20, 1, 0.0) == ("skip", 23)
    assert guard.check(TP, 23, 20, 1, 0.0) == ("handle", 23)


def test_a_new_generation_starts_from_the_committed_offset() -> None:
    guard = OffsetGuard()
    guard.check(TP, 20, 20, 1, 0.0)
    assert guard.check(TP, 30, 30, 2, 0.0) == ("handle", 30)  # rebalanced: new positions
    assert guard.check(("other", 0), 5, None, 2, 0.0) == ("handle", 5)  # nothing committed


def test_a_partition_that_delivers_nothing_while_records_wait_is_sought_back() -> None:
    guard = OffsetGuard()
    guard.check(TP, 10, 10, 1, 0.0)  # handled 10; 11 was dropped and was the last record
    assert guard.idle(TP, 12, 10, 1, 1.0) is None  # not for long yet
    assert guard.idle(TP, 12, 10, 1, IDLE_AFTER_S + 1) == 11
    assert guard.idle(TP, 12, 10, 1, IDLE_AFTER_S + 2) is None  # just sought: give it time


def test_an_idle_partition_with_nothing_waiting_is_left_alone() -> None:
    guard = OffsetGuard()
    guard.check(TP, 10, 10, 1, 0.0)
    assert guard.idle(TP, 11, 10, 1, 100.0) is None  # its end is the expected offset
    # nothing delivered yet in this generation, records wait from the committed offset
    fresh = OffsetGuard()
    assert fresh.idle(TP, 50, 40, 1, 0.0) is None
    assert fresh.idle(TP, 50, 40, 1, IDLE_AFTER_S + 1) == 40


def test_a_held_partition_reads_as_unknown_and_keeps_its_read_offset() -> None:
    offsets = HeldReadOffsets(defaultdict(lambda: None, {TP: 7}))
    assert offsets[TP] == 7 and offsets[("other", 1)] is None
    offsets.held.add(TP)
    offsets[TP] = 30  # a record fetched before the seek goes by: no read offset moves
    assert offsets[TP] is None
    offsets.held.discard(TP)
    assert offsets[TP] == 7
    offsets[TP] = 8
    assert offsets[TP] == 8


def test_the_faust_internals_the_guard_uses_are_there() -> None:
    """A Faust upgrade that renames them must fail here, not silently lose the guard."""
    from faust.types import Message

    from eventline.core.settings import Settings
    from eventline.streams.app import create_worker

    worker = create_worker(Settings())
    worker.sender.close(0)  # no broker here: its producer would complain at exit
    consumer = worker.app.consumer
    assert hasattr(consumer, "_committed_offset") and hasattr(consumer, "_gap")
    assert isinstance(consumer._read_offset, defaultdict)
    assert callable(consumer.seek_wait) and callable(consumer.highwaters)
    assert callable(consumer.resume_partitions) and callable(consumer.ack)
    message = Message("t", 0, 5, 0.0, 0, None, b"k", b"v", None, generation_id=3)
    assert (message.tp, message.offset, message.generation_id, message.acked) == (
        ("t", 0),
        5,
        3,
        False,
    )


class _Consumer:
    def __init__(self, committed: int | None) -> None:
        self._read_offset: dict = {}
        self._committed_offset = {} if committed is None else {_tp(): committed}
        self._gap: dict = {}


class _App:
    def __init__(self, consumer: _Consumer) -> None:
        self.consumer = consumer
        self.consumer_generation_id = 1


class _Reader:
    def __init__(self, earliest: int = 0) -> None:
        self.fail = True
        self.reads: list[tuple[int, int]] = []
        self.first = earliest

    def earliest(self, tps: list[object]) -> dict:
        return {tp: self.first for tp in tps}

    def read(self, topic: str, partition: int, start: int, end: int) -> list:
        self.reads.append((start, end))
        if self.fail:
            raise TimeoutError("Kafka away")
        return []  # the records themselves do not matter here


def _tp() -> object:
    from faust.types import TP as FaustTP

    return FaustTP("eventline.incoming", 0)


def _event(offset: int) -> object:
    message = type("M", (), {"tp": _tp(), "offset": offset})()
    return type("E", (), {"message": message})()


async def test_a_partition_never_committed_starts_at_its_earliest_offset() -> None:
    from eventline.streams.continuity import ContinuityGuard

    guard = ContinuityGuard(_App(_Consumer(None)), "eventline.incoming", "x:1")
    reader = guard.reader = _Reader()  # type: ignore[assignment]
    reader.fail = False
    await guard.admit(_event(4))  # Faust dropped 0..3 and would commit past them
    assert reader.reads == [(0, 4)]


async def test_a_hole_that_cannot_be_read_yet_stays_open_for_the_next_try() -> None:
    from eventline.streams.continuity import ContinuityGuard

    guard = ContinuityGuard(_App(_Consumer(10)), "eventline.incoming", "x:1")
    reader = guard.reader = _Reader()  # type: ignore[assignment]
    with pytest.raises(TimeoutError):
        await guard.admit(_event(13))
    reader.fail = False
    admitted = await guard.admit(_event(13))  # the agent tries again with the same event
    assert reader.reads == [(10, 13), (10, 13)] and len(admitted) == 1
