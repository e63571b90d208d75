"""Which offsets to fetch again when Faust drops buffered records (pure part of the guard)."""

from types import SimpleNamespace

from streams.rewind import first_buffered_offsets


def _event(topic: str, partition: int, offset: int, generation: int) -> SimpleNamespace:
    tp = (topic, partition)
    return SimpleNamespace(message=SimpleNamespace(tp=tp, offset=offset, generation_id=generation))


def test_the_lowest_dropped_offset_of_each_partition_is_fetched_again() -> None:
    buffered = [_event("in", 0, 7, 2), _event("in", 1, 3, 2), _event("in", 0, 5, 2)]
    assert first_buffered_offsets(buffered, 2) == {("in", 0): 5, ("in", 1): 3}


def test_older_generations_are_left_to_the_next_assignment() -> None:
    buffered = [_event("in", 0, 1, 1), _event("in", 1, 9, 2)]
    assert first_buffered_offsets(buffered, 2) == {("in", 1): 9}


def test_values_that_are_not_events_are_ignored() -> None:
    assert first_buffered_offsets(["not an event", SimpleNamespace(message=None)], 1) == {}


def test_the_faust_internals_the_guard_reads_are_there() -> None:
    """A Faust upgrade that renames them must fail here, not silently lose the guard."""
    from mode.utils.queues import FlowControlEvent, FlowControlQueue

    from eventline.settings import Settings
    from streams.app import create_worker

    flow = FlowControlEvent()
    queue: FlowControlQueue[int] = FlowControlQueue(flow_control=flow, clear_on_resume=True)
    queue.put_nowait(1)
    assert list(flow._queues) == [queue] and list(queue._queue) == [1]
    app = create_worker(Settings()).app
    assert app.flow_control.resume.__name__ == "guarded_resume"
    assert hasattr(app.consumer, "_paused_partitions")
    assert hasattr(app.consumer, "_committed_offset")  # streams.continuity reads it
    assert callable(app.consumer.seek_wait)  # both guards seek in the consumer's thread
