"""The worker's tables in memory (eventline.streams.table): writes seen at once, one changelog
record per changed key per batch, copies let go or checked again when the assignment changes."""

from __future__ import annotations

import orjson

from eventline.streams.table import Table, Tables


def test_a_write_is_read_back_at_once_as_a_copy() -> None:
    table = Table("contacts", "app-contacts-changelog")
    table.partition = 1
    table["a"] = {"tags": ["x"]}
    read = table.get("a")
    read["tags"].append("y")  # the reader's own copy: the table is unchanged
    assert table.get("a") == {"tags": ["x"]}
    assert "a" in table and "b" not in table
    assert table.get("b", "none") == "none"


def test_a_batch_drains_one_record_per_changed_key_with_its_latest_value() -> None:
    table = Table("contacts", "app-contacts-changelog")
    table.partition = 0
    table["a"] = 1
    table["a"] = 2
    table.partition = 2
    table.update({"b": "x", "c": "y"})
    del table["c"]
    drained = sorted(table.drain())
    assert drained == [
        ("app-contacts-changelog", 0, b'"a"', b"2"),
        ("app-contacts-changelog", 2, b'"b"', b'"x"'),
        ("app-contacts-changelog", 2, b'"c"', None),
    ]
    assert table.drain() == []  # sent once


def test_a_key_is_found_on_any_partition_the_worker_holds() -> None:
    table = Table("seen", "app-seen-changelog")
    table.partition = 0
    table["e1"] = [1, 2]
    table.partition = 1
    assert table.get("e1") == [1, 2]
    assert sorted(table.keys()) == ["e1"] and len(table) == 1


def test_partitions_are_checked_once_per_generation_and_let_go_when_not_owned() -> None:
    table = Table("contacts", "app-contacts-changelog")
    table._checked = {0: 5, 1: 5}
    table.partition = 1
    table["k"] = orjson.loads(b"1")
    assert table.stale([0, 1, 2], 5) == [2]
    assert table.stale([0, 1], 6) == [0, 1]
    table.keep_only({0})
    assert "k" not in table and table.stale([1], 5) == [1]


def test_our_own_changelog_writes_keep_the_copy_current() -> None:
    table = Table("contacts", "app-contacts-changelog")
    table.written(0, 41)
    table.written(0, 40)  # reports may come out of order across batches
    assert table._ends[0] == 42


def test_an_unfinished_batch_forgets_its_writes_and_restores_what_it_touched() -> None:
    table = Table("contacts", "app-contacts-changelog")
    table._checked = {0: 3, 1: 3}
    table.partition = 1
    table["k"] = 1
    Tables("127.0.0.1:9", table).discard()
    assert table.drain() == [] and "k" not in table
    assert table.stale([0, 1], 3) == [1]


def test_a_stored_value_holds_about_its_own_length_of_memory() -> None:
    """orjson's bytes keep its whole output buffer (4 KiB): a table of small values must not."""
    import tracemalloc

    from eventline.streams.table import Table

    table = Table("identities", "x-identities-changelog")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(2000):
            table[f"acme/email/c{i}@example.com"] = f"contact-{i}"
        held = (tracemalloc.get_traced_memory()[0] - before) / 2000
    finally:
        tracemalloc.stop()
    assert held < 600, f"{held:.0f} bytes per small entry"
