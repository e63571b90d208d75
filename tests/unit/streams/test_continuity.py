"""Offsets skipped by Faust are fetched again before anything after them is handled."""

from streams.continuity import RESEEK_AFTER_S, OffsetGuard

TP = ("eventline.incoming", 0)


def test_records_in_order_from_the_committed_offset_are_processed() -> None:
    guard = OffsetGuard()
    assert guard.check(TP, 10, 10, 1, 0.0) == ("process", 10)
    assert guard.check(TP, 11, 10, 1, 0.0) == ("process", 11)


def test_a_record_beyond_the_expected_offset_rewinds_and_later_ones_wait() -> None:
    guard = OffsetGuard()
    assert guard.check(TP, 13, 10, 1, 0.0) == ("rewind", 10)  # 10, 11, 12 were dropped
    assert guard.check(TP, 14, 10, 1, 0.1) == ("wait", 10)  # still buffered before the seek
    assert guard.check(TP, 10, 10, 1, 0.2) == ("process", 10)  # fetched again
    assert guard.check(TP, 11, 10, 1, 0.2) == ("process", 11)


def test_a_rewind_not_answered_in_time_is_sought_again() -> None:
    guard = OffsetGuard()
    guard.check(TP, 13, 10, 1, 0.0)
    assert guard.check(TP, 13, 10, 1, RESEEK_AFTER_S + 1) == ("rewind", 10)


def test_a_hole_after_processed_records_rewinds_to_the_first_missing_offset() -> None:
    guard = OffsetGuard()
    guard.check(TP, 10, 10, 1, 0.0)
    assert guard.check(TP, 12, 10, 1, 0.0) == ("rewind", 11)


def test_replays_are_processed_and_a_new_generation_starts_from_the_committed_offset() -> None:
    guard = OffsetGuard()
    guard.check(TP, 20, 20, 1, 0.0)
    assert guard.check(TP, 15, 20, 1, 0.0) == ("process", 15)  # sought back: a replay
    assert guard.check(TP, 30, 30, 2, 0.0) == ("process", 30)  # rebalanced: new positions
    assert guard.check(("other", 0), 5, None, 2, 0.0) == ("process", 5)  # nothing committed
