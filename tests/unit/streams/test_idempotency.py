"""The idempotency window: replay, resend, and expiry."""

from eventline.streams.idempotency import classify, entry

HOUR_MS = 3600 * 1000
WINDOW = 168 * HOUR_MS


def test_first_sight_is_new() -> None:
    assert classify(None, "r1", 0, WINDOW) == "new"


def test_the_same_receipt_again_is_a_replay_whenever_it_comes() -> None:
    assert classify(entry("r1", 0), "r1", 10, WINDOW) == "replay"
    assert classify(entry("r1", 0), "r1", WINDOW * 3, WINDOW) == "replay"


def test_another_receipt_inside_the_window_is_a_duplicate() -> None:
    assert classify(entry("r1", 0), "r2", 1, WINDOW) == "duplicate"
    assert classify(entry("r1", 0), "r2", WINDOW - 1, WINDOW) == "duplicate"


def test_the_window_is_exclusive_at_its_end() -> None:
    assert classify(entry("r1", 0), "r2", WINDOW, WINDOW) == "new"
    assert classify(entry("r1", 0), "r2", WINDOW + HOUR_MS, WINDOW) == "new"
