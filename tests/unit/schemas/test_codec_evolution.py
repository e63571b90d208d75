"""Schema evolution: fields are only appended, with defaults; old and new versions interoperate.

Past versions of a schema, when kept, live in ``schemas/avro/history/**/*.avsc`` (one record
schema per file, named like the current one); the rule test checks each against the current
schema and skips when there are none.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import fastavro
import pytest

import eventline.schemas
from eventline.core.errors import InvalidEvent
from eventline.schemas.codec import (
    EMBEDDED,
    MAGIC,
    SCHEMA_FILES,
    Codec,
    codec,
    load_schema_json,
    schema_fingerprint,
)

from .test_codec import as_stored

NAMES = list(SCHEMA_FILES)
ADDED = {"name": "added_later", "type": ["null", "string"], "default": None}
HISTORY = Path(eventline.schemas.__file__).parent / "avro" / "history"


def parse(schema: dict[str, Any], name: str) -> Any:
    """Parse ``schema`` with the named types of the schemas registered before ``name``."""
    named: dict[str, Any] = {}
    for earlier in NAMES[: NAMES.index(name)]:
        fastavro.parse_schema(load_schema_json(earlier), named_schemas=named)
    return fastavro.parse_schema(schema, named_schemas=named)


def encode_with(schema: dict[str, Any], name: str, record: dict[str, Any]) -> bytes:
    """Single-object encoding exactly as Codec.encode does it, with another writer schema."""
    for field, inner in EMBEDDED.get(name, {}).items():
        record = {**record, field: codec().encode(inner, record[field])}
    parsed = parse(schema, name)
    buf = io.BytesIO()
    buf.write(MAGIC)
    buf.write(schema_fingerprint(parsed))
    fastavro.schemaless_writer(buf, parsed, record)
    return buf.getvalue()


def newer(name: str) -> dict[str, Any]:
    schema = load_schema_json(name)
    schema["fields"].append(dict(ADDED))
    return schema


def older(name: str) -> dict[str, Any]:
    schema = load_schema_json(name)
    schema["fields"].pop()
    return schema


def _strip_docs(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_docs(v) for k, v in value.items() if k != "doc"}
    if isinstance(value, list):
        return [_strip_docs(v) for v in value]
    return value


def evolution_problems(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why ``new`` is not a legal successor of ``old`` (empty when it is)."""
    if old.get("name") != new.get("name"):
        return [f"renamed {old.get('name')} -> {new.get('name')}"]
    old_fields, new_fields = old["fields"], new["fields"]
    problems = []
    for index, field in enumerate(old_fields):
        if index >= len(new_fields):
            problems.append(f"field {field['name']} removed")
        elif _strip_docs(new_fields[index]) != _strip_docs(field):
            problems.append(
                f"field {index} changed: {field['name']} -> {new_fields[index]['name']}"
            )
    for field in new_fields[len(old_fields) :]:
        if "default" not in field:
            problems.append(f"appended field {field['name']} has no default")
    return problems


# --- the rule itself --------------------------------------------------------------------


def test_rule_accepts_an_appended_field_with_default() -> None:
    assert evolution_problems(older("IncomingRecord"), load_schema_json("IncomingRecord")) == []
    assert evolution_problems(load_schema_json("Contact"), newer("Contact")) == []


def test_rule_rejects_removed_reordered_retyped_and_defaultless_fields() -> None:
    current = load_schema_json("Contact")
    assert evolution_problems(current, older("Contact"))  # removed
    swapped = copy.deepcopy(current)
    swapped["fields"][0], swapped["fields"][1] = swapped["fields"][1], swapped["fields"][0]
    assert evolution_problems(current, swapped)
    retyped = copy.deepcopy(current)
    retyped["fields"][0]["type"] = "int"
    assert evolution_problems(current, retyped)
    no_default = copy.deepcopy(current)
    no_default["fields"].append({"name": "later", "type": "string"})
    assert evolution_problems(current, no_default) == ["appended field later has no default"]


def test_rule_ignores_doc_changes() -> None:
    current = load_schema_json("Contact")
    documented = copy.deepcopy(current)
    documented["fields"][0]["doc"] = "reworded"
    assert evolution_problems(current, documented) == []


def _history() -> list[Path]:
    return sorted(HISTORY.rglob("*.avsc")) if HISTORY.is_dir() else []


@pytest.mark.parametrize("path", _history() or [None], ids=lambda p: p.name if p else "none")
def test_history_versions_follow_the_evolution_rule(path: Path | None) -> None:
    if path is None:
        pytest.skip(f"no schema history files under {HISTORY}")
    old = json.loads(path.read_text())
    assert old["name"] in SCHEMA_FILES, f"{path}: no current schema named {old['name']}"
    assert evolution_problems(old, load_schema_json(old["name"])) == []
    Codec(extra_writer_schemas={old["name"]: [old]})  # and the codec accepts it as a writer


# --- older reader, newer writer ---------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_current_reader_decodes_a_newer_writers_record(
    name: str, records: dict[str, dict[str, Any]]
) -> None:
    record = records[name]
    data = encode_with(newer(name), name, {**record, "added_later": "from the future"})
    assert data[2:10] != Codec().encode(name, record)[2:10]  # an unknown fingerprint
    decoded = Codec().decode(name, data)
    assert "added_later" not in decoded
    assert decoded == as_stored(name, record)


def test_current_reader_decodes_event_status_embedding_a_newer_incoming_record(
    status_record: dict[str, Any],
) -> None:
    # EventStatus embeds IncomingRecord as its own single-object encoding (bytes), so a newer
    # IncomingRecord inside a current EventStatus is read by the prefix rule on its own.
    inner_parsed = fastavro.parse_schema(newer("IncomingRecord"), named_schemas={})
    inner = io.BytesIO()
    inner.write(MAGIC + schema_fingerprint(inner_parsed))
    fastavro.schemaless_writer(inner, inner_parsed, {**status_record["record"], "added_later": "x"})
    outer_parsed = fastavro.parse_schema(load_schema_json("EventStatus"), named_schemas={})
    buf = io.BytesIO()
    buf.write(MAGIC + schema_fingerprint(outer_parsed))
    fastavro.schemaless_writer(buf, outer_parsed, {**status_record, "record": inner.getvalue()})
    decoded = Codec().decode("EventStatus", buf.getvalue())
    assert decoded == as_stored("EventStatus", status_record)


# --- newer reader, older writer (registered) --------------------------------------------

DROPPABLE = [n for n in NAMES if "default" in load_schema_json(n)["fields"][-1]]


def test_some_schemas_have_a_droppable_last_field() -> None:
    assert {"IncomingRecord", "CanonicalEvent"} <= set(DROPPABLE)


@pytest.mark.parametrize("name", DROPPABLE)
def test_registered_older_writer_is_decoded_with_defaults(
    name: str, records: dict[str, dict[str, Any]]
) -> None:
    old = older(name)
    last = load_schema_json(name)["fields"][-1]
    record = {k: v for k, v in records[name].items() if k != last["name"]}
    data = encode_with(old, name, record)
    decoded = Codec(extra_writer_schemas={name: [old]}).decode(name, data)
    assert decoded[last["name"]] == last["default"]
    assert decoded == {**as_stored(name, record), last["name"]: last["default"]}


def test_registered_older_writer_does_not_disturb_current_records(
    incoming_record: dict[str, Any],
) -> None:
    evolved = Codec(extra_writer_schemas={"IncomingRecord": [older("IncomingRecord")]})
    data = Codec().encode("IncomingRecord", incoming_record)
    assert evolved.decode("IncomingRecord", data) == as_stored("IncomingRecord", incoming_record)


def test_registered_older_writer_is_still_checked_against_the_name(
    incoming_record: dict[str, Any],
) -> None:
    old = older("IncomingRecord")
    record = {k: v for k, v in incoming_record.items() if k != "route_key"}
    data = encode_with(old, "IncomingRecord", record)
    with pytest.raises(InvalidEvent, match="expected Contact"):
        Codec(extra_writer_schemas={"IncomingRecord": [old]}).decode("Contact", data)
