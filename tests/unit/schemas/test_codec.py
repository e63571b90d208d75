"""eventline.schemas.codec: every schema round-trips; bad input raises InvalidEvent."""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any

import fastavro
import pytest

from eventline.core.errors import InvalidEvent
from eventline.schemas.codec import (
    EMBEDDED,
    HEADER_LEN,
    MAGIC,
    SCHEMA_FILES,
    Codec,
    codec,
    load_schema_json,
    schema_fingerprint,
)

NAMES = list(SCHEMA_FILES)


def _millis_fields(schema: dict[str, Any]) -> dict[str, str | None]:
    """Field name -> "millis" for timestamp-millis fields, or a nested record's name."""
    out: dict[str, str | None] = {}
    for field in schema["fields"]:
        types = field["type"] if isinstance(field["type"], list) else [field["type"]]
        for typ in types:
            if isinstance(typ, dict) and typ.get("logicalType") == "timestamp-millis":
                out[field["name"]] = "millis"
            elif isinstance(typ, str) and typ.startswith("eventline."):
                out[field["name"]] = typ.removeprefix("eventline.")
    return out


def as_stored(name: str, record: dict[str, Any]) -> dict[str, Any]:
    """What decoding ``record`` gives back: timestamp-millis fields lose their microseconds."""
    out = dict(record)
    for field, kind in _millis_fields(load_schema_json(name)).items():
        value = out.get(field)
        if kind == "millis" and isinstance(value, datetime):
            out[field] = value.replace(microsecond=value.microsecond // 1000 * 1000)
        elif kind in SCHEMA_FILES and isinstance(value, dict):
            out[field] = as_stored(kind, value)
    for field, inner in EMBEDDED.get(name, {}).items():
        out[field] = as_stored(inner, out[field])
    return out


def test_every_schema_file_loads_and_is_named_as_registered() -> None:
    for name in NAMES:
        schema = load_schema_json(name)
        assert schema["type"] == "record"
        assert schema["name"] == name
        assert schema["namespace"] == "eventline"


@pytest.mark.parametrize("name", NAMES)
def test_round_trip(name: str, records: dict[str, dict[str, Any]]) -> None:
    record = records[name]
    data = Codec().encode(name, record)
    assert data[:2] == MAGIC
    assert Codec().decode(name, data) == as_stored(name, record)


@pytest.mark.parametrize("name", NAMES)
def test_decoded_timestamps_are_aware_utc(name: str, records: dict[str, dict[str, Any]]) -> None:
    decoded = codec().decode(name, codec().encode(name, records[name]))
    flat = {**decoded, **decoded.get("record", {})}
    stamps = [v for v in flat.values() if isinstance(v, datetime)]
    assert stamps
    for stamp in stamps:
        assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0


def test_timestamp_micros_keeps_microseconds(status_record: dict[str, Any]) -> None:
    decoded = codec().decode("EventStatus", codec().encode("EventStatus", status_record))
    assert decoded["updated_at"] == status_record["updated_at"]  # timestamp-micros
    assert decoded["record"]["received_at"].microsecond % 1000 == 0  # timestamp-millis


def test_incoming_record_defaults_fill_missing_optional_fields(
    incoming_record: dict[str, Any],
) -> None:
    minimal = {
        k: incoming_record[k]
        for k in ("kind", "account_id", "event_id", "receipt_id", "received_at", "source")
    }
    decoded = codec().decode("IncomingRecord", codec().encode("IncomingRecord", minimal))
    assert decoded["properties_json"] == "{}"
    assert decoded["attempt"] == 0
    assert decoded["is_syncing"] is False
    assert decoded["email"] is None and decoded["route_key"] is None


def test_identity_claim_round_trips(incoming_record: dict[str, Any]) -> None:
    claim = {**incoming_record, "kind": "IDENTITY", "route_key": "acme/email/ada@example.com"}
    decoded = codec().decode("IncomingRecord", codec().encode("IncomingRecord", claim))
    assert decoded["kind"] == "IDENTITY"
    assert decoded["route_key"] == "acme/email/ada@example.com"


def test_codec_is_cached() -> None:
    assert codec() is codec()


def test_schema_returns_parsed_schema() -> None:
    assert codec().schema("Contact")["name"] == "eventline.Contact"


@pytest.mark.parametrize(
    "data",
    [b"", b"\xc3", b"not avro at all", json.dumps({"name": "x"}).encode(), b"\xc3\x01" + b"\0" * 3],
    ids=["empty", "magic-only", "text", "json", "short-header"],
)
def test_decode_garbage_raises_invalid_event(data: bytes) -> None:
    with pytest.raises(InvalidEvent) as info:
        codec().decode("IncomingRecord", data)
    assert info.value.field == "value"


def test_decode_truncated_body_raises_invalid_event(incoming_record: dict[str, Any]) -> None:
    data = codec().encode("IncomingRecord", incoming_record)
    with pytest.raises(InvalidEvent, match="undecodable IncomingRecord"):
        codec().decode("IncomingRecord", data[: HEADER_LEN + 3])


def test_decode_unknown_fingerprint_with_garbage_body_raises_invalid_event() -> None:
    with pytest.raises(InvalidEvent):
        codec().decode("Contact", MAGIC + b"\x01" * 8 + b"\xff\xff\xff")


def test_decode_under_the_wrong_schema_name_raises_invalid_event(
    contact_record: dict[str, Any],
) -> None:
    data = codec().encode("Contact", contact_record)
    with pytest.raises(InvalidEvent, match="record is a Contact, expected IncomingRecord"):
        codec().decode("IncomingRecord", data)


@pytest.mark.parametrize("name", NAMES)
def test_fingerprints_differ_between_schemas(name: str, records: dict[str, Any]) -> None:
    header = codec().encode(name, records[name])[2:HEADER_LEN]
    others = {codec().encode(o, records[o])[2:HEADER_LEN] for o in NAMES if o != name}
    assert header not in others


def _ticks(record: dict[str, Any], micros: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A decoded record with each datetime as raw_times gives it: epoch ms (µs in micros)."""
    out = {}
    for key, value in record.items():
        if isinstance(value, datetime):
            exact = round(value.timestamp() * 1_000_000)
            out[key] = exact if key in micros else exact // 1000
        elif isinstance(value, dict):
            out[key] = _ticks(value)
        else:
            out[key] = value
    return out


@pytest.mark.parametrize("name", NAMES)
def test_raw_times_decode_the_same_record_with_times_as_on_the_wire(
    name: str, records: dict[str, dict[str, Any]]
) -> None:
    data = codec().encode(name, records[name])
    plain = codec().decode(name, data, raw_times=True)
    micros = frozenset({"updated_at"}) if name == "EventStatus" else frozenset()
    assert plain == _ticks(codec().decode(name, data), micros)
    flat = {**plain, **plain.get("record", {})}
    assert not [v for v in flat.values() if isinstance(v, datetime)]


def test_raw_times_of_a_registered_older_writer_are_resolved_too(
    incoming_record: dict[str, Any],
) -> None:
    old = json.loads(json.dumps(load_schema_json("IncomingRecord")))
    old["fields"] = old["fields"][:-1]
    parsed = fastavro.parse_schema(old, named_schemas={})
    buf = io.BytesIO()
    buf.write(MAGIC + schema_fingerprint(parsed))
    record = {k: v for k, v in incoming_record.items() if k != "unknown_contact"}
    fastavro.schemaless_writer(buf, parsed, record)
    evolved = Codec(extra_writer_schemas={"IncomingRecord": [old]})
    plain = evolved.decode("IncomingRecord", buf.getvalue(), raw_times=True)
    assert plain == _ticks(evolved.decode("IncomingRecord", buf.getvalue()))
    assert plain["unknown_contact"] is None


TIMED = [(n, f) for n in NAMES for f, _lo, _hi in codec()._time_ranges[n]]


@pytest.mark.parametrize(("name", "field"), TIMED)
def test_raw_times_refuse_a_time_exactly_when_datetimes_would(
    name: str, field: str, records: dict[str, dict[str, Any]]
) -> None:
    _field, lowest, highest = next(r for r in codec()._time_ranges[name] if r[0] == field)
    for value in (lowest - 1, lowest, highest, highest + 1, 2**62, -(2**62)):
        data = codec().encode(name, {**records[name], field: value})
        try:
            codec().decode(name, data)
            refused = False
        except InvalidEvent:
            refused = True
        if refused:
            with pytest.raises(InvalidEvent):
                codec().decode(name, data, raw_times=True)
        else:
            assert codec().decode(name, data, raw_times=True)[field] == value
        assert refused == (not lowest <= value <= highest)
