"""Export lines as native backfill events with stable keys (eventline.producers.importer.lines)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from eventline.producers.importer.lines import format_of, read


def _jsonl(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "export.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_each_line_is_a_backfill_event_with_a_key_stable_across_runs(tmp_path: Path) -> None:
    event = '{"name": "purchase", "email": "ada@example.com", "value": 12.5}'
    path = _jsonl(tmp_path, event, event, '{"name": "x", "user_id": "u", "idempotency_key": "k"}')
    first, second = list(read(path, "jsonl")), list(read(path, "jsonl"))
    assert [line.event for line in first] == [line.event for line in second]
    keys = [line.event["idempotency_key"] for line in first if line.event]
    assert keys[0] != keys[1]  # two identical lines are two events
    assert keys[2] == "k"  # a line's own key is kept
    assert all(line.event and line.event["is_syncing"] is True for line in first)
    assert first[0].event == {**orjson.loads(event), "is_syncing": True, "idempotency_key": keys[0]}


def test_a_file_that_grew_at_its_end_keeps_the_keys_of_its_lines(tmp_path: Path) -> None:
    lines = [f'{{"name": "n{i}", "user_id": "u"}}' for i in range(5)]
    before = [line.event for line in read(_jsonl(tmp_path, *lines[:3]), "jsonl")]
    after = [line.event for line in read(_jsonl(tmp_path, *lines), "jsonl")]
    assert after[:3] == before


def test_lines_that_cannot_be_sent_say_why_and_where(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path, "{not json", "[1, 2]", "", '{"name": "a", "email": "a@b.co", "is_syncing": false}'
    )
    read_lines = list(read(path, "jsonl"))
    assert [(line.number, line.event) for line in read_lines] == [(n, None) for n in (1, 2, 3, 4)]
    reasons = [line.error or "" for line in read_lines]
    assert reasons[0].startswith("not JSON") and reasons[1] == "not a JSON object"
    assert reasons[2] == "empty line" and "backfill" in reasons[3]


def test_a_resumed_read_skips_the_lines_already_answered_for(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, *[f'{{"name": "n{i}", "user_id": "u"}}' for i in range(5)])
    assert [line.number for line in read(path, "jsonl", skip=3)] == [4, 5]
    csv_path = tmp_path / "history.csv"  # a record may span lines: records are counted
    csv_path.write_text('name,user_id,note\na,u,"two\nlines"\nb,u,x\nc,u,y\n')
    assert [line.number for line in read(csv_path, "csv", skip=1)] == [4, 5]
    assert [line.event["name"] for line in read(csv_path, "csv", skip=2) if line.event] == ["c"]


def test_csv_columns_are_fields_and_the_rest_properties(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "name,email,value,occurred_at,properties,sku,properties.color\n"
        'purchase,ada@example.com,12.5,2024-01-02T03:04:05Z,"{""coupon"": ""X""}",MUG-1,red\n'
        "purchase,bo@example.com,twelve,,,,\n"
    )
    first, second = list(read(path, "csv"))
    assert first.number == 2 and first.event is not None
    assert first.event["value"] == 12.5 and first.event["occurred_at"] == "2024-01-02T03:04:05Z"
    assert first.event["properties"] == {"coupon": "X", "sku": "MUG-1", "color": "red"}
    # not silently changed: the gateway refuses the text and names the field
    assert second.event is not None and second.event["value"] == "twelve"
    assert "properties" not in second.event and "occurred_at" not in second.event


def test_a_csv_without_a_name_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("email,value\nada@example.com,1\n")
    with pytest.raises(ValueError, match="'name'"):
        list(read(path, "csv"))


def test_the_format_comes_from_the_suffix_unless_given(tmp_path: Path) -> None:
    assert format_of(tmp_path / "a.ndjson", None) == "jsonl"
    assert format_of(tmp_path / "a.txt", "csv") == "csv"
    with pytest.raises(ValueError, match="--format"):
        format_of(tmp_path / "a.txt", None)


def test_a_position_resumes_the_same_export_grown_but_not_another_one(tmp_path: Path) -> None:
    from eventline.producers.importer.position import Position

    export = _jsonl(tmp_path, *[f'{{"name": "n{i}", "user_id": "u"}}' for i in range(5)])
    Position.of(export, tmp_path / "home").save(3)
    with open(export, "a") as grown:
        grown.write('{"name": "n5", "user_id": "u"}\n')
    assert Position.of(export, tmp_path / "home").done == 3  # the same export, grown
    export.write_text("".join(f'{{"name": "other{i}", "user_id": "u"}}\n' for i in range(9)))
    assert Position.of(export, tmp_path / "home").done == 0  # another one: from the start
