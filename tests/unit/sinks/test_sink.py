"""eventline.sinks.sink: batch tokens and committed offsets, with fake Kafka messages."""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any

from eventline.sinks.sink import _batch_token, _collector_paused, _next_offsets


@dataclass
class FakeMessage:
    _topic: str
    _partition: int
    _offset: int
    _error: Any = None
    _value: bytes = b"v"

    def value(self) -> bytes:
        return self._value

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def error(self) -> Any:
        return self._error


def batch(*specs: tuple[str, int, int]) -> list[Any]:
    return [FakeMessage(t, p, o) for t, p, o in specs]


def test_batch_token_is_stable_for_the_same_offsets() -> None:
    one = batch(("a", 0, 5), ("a", 0, 6), ("b", 1, 9))
    same = batch(("b", 1, 9), ("a", 0, 6), ("a", 0, 5))  # another order, same ranges
    assert _batch_token(one) == _batch_token(same)
    assert len(_batch_token(one)) == 40


def test_batch_token_differs_for_the_same_offsets_with_other_contents() -> None:
    # Topics recreated while ClickHouse kept its dedup window: offsets repeat, data does not.
    old = batch(("a", 0, 5))
    new = batch(("a", 0, 5))
    new[0]._value = b"another record"
    assert _batch_token(old) != _batch_token(new)


def test_batch_token_differs_for_different_offsets() -> None:
    base = _batch_token(batch(("a", 0, 5), ("a", 0, 6)))
    assert _batch_token(batch(("a", 0, 5), ("a", 0, 7))) != base
    assert _batch_token(batch(("a", 1, 5), ("a", 1, 6))) != base
    assert _batch_token(batch(("b", 0, 5), ("b", 0, 6))) != base


def test_batch_token_ignores_error_messages() -> None:
    msgs = batch(("a", 0, 5))
    with_error = [*msgs, FakeMessage("a", 0, 99, _error="partition eof")]
    assert _batch_token(with_error) == _batch_token(msgs)


def test_next_offsets_is_last_offset_plus_one_per_partition() -> None:
    msgs = batch(("a", 0, 5), ("a", 0, 7), ("a", 0, 6), ("a", 1, 0), ("b", 0, 41))
    msgs.append(FakeMessage("a", 1, 500, _error="eof"))
    got = {(tp.topic, tp.partition): tp.offset for tp in _next_offsets(msgs)}
    assert got == {("a", 0): 8, ("a", 1): 1, ("b", 0): 42}


def test_next_offsets_of_only_errors_is_empty() -> None:
    assert _next_offsets([FakeMessage("a", 0, 3, _error="eof")]) == []


def test_the_collector_is_paused_while_a_batch_is_written_and_left_as_found() -> None:
    assert gc.isenabled()
    with _collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with _collector_paused():
            pass
        assert not gc.isenabled()  # it was off: it stays off
    finally:
        gc.enable()
