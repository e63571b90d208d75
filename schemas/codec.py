"""Avro encoding of every topic's records: single-object encoding with a schema fingerprint.

Wire format (Avro spec, "single object encoding"): ``C3 01`` + the writer schema's 8-byte
CRC-64-AVRO fingerprint (little endian) + the schemaless Avro body.

Evolution rule (checked by tests/unit/schemas/test_codec_evolution.py): a new version only
*appends* fields, each with a default. A reader decodes a record of a known writer version by
Avro schema resolution; a record of an unknown, newer writer is decoded with the reader's own
schema, which is a prefix of the newer one, and the appended fields are ignored. So an older
reader reads a newer writer's records without a schema registry.

The prefix argument holds for top-level fields only, so a record never embeds another as a
nested Avro record: it embeds its single-object encoding as ``bytes`` (EMBEDDED below), and
each schema evolves on its own.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any, cast

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from eventline.core.errors import InvalidEvent
from eventline.schemas import fastread, fastwrite

MAGIC = b"\xc3\x01"
HEADER_LEN = len(MAGIC) + 8

# Record name -> schema file. Order matters: a schema may use the names defined before it.
SCHEMA_FILES: dict[str, str] = {
    "IncomingRecord": "incoming_record.avsc",
    "EventStatus": "event_status.avsc",
    "CanonicalEvent": "canonical_event.avsc",
    "Contact": "contact.avsc",
    "AccountEntry": "account_entry.avsc",
    "TagChange": "tag_change.avsc",
    "SegmentTransition": "segment_transition.avsc",
    "WorkflowTrigger": "workflow_trigger.avsc",
    "RuleEntry": "rule_entry.avsc",
    "ContactCheck": "contact_check.avsc",
    "ClockOffset": "clock_offset.avsc",
    "AccountChange": "account_change.avsc",
    "RuleChange": "rule_change.avsc",
    "ContactMerge": "contact_merge.avsc",
}

# Record name -> {bytes field: embedded record name}, encoded and decoded transparently.
EMBEDDED: dict[str, dict[str, str]] = {"EventStatus": {"record": "IncomingRecord"}}

Record = dict[str, Any]


def load_schema_json(name: str) -> dict[str, Any]:
    """The raw JSON of one schema, as stored in ``schemas/avro``."""
    text = (resources.files("eventline.schemas") / "avro" / SCHEMA_FILES[name]).read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def schema_fingerprint(parsed: Any) -> bytes:
    """The 8-byte CRC-64-AVRO fingerprint of a parsed schema, little endian as the spec says."""
    hex_digest = fingerprint(to_parsing_canonical_form(dict(parsed)), "CRC-64-AVRO")
    return int(hex_digest, 16).to_bytes(8, "little")


class Codec:
    """Encodes and decodes records of the named schemas; parses each schema once."""

    def __init__(self, extra_writer_schemas: Mapping[str, list[dict[str, Any]]] | None = None):
        self._named: dict[str, Any] = {}
        self._schemas: dict[str, Any] = {}
        self._fingerprints: dict[str, bytes] = {}
        # fingerprint -> (record name, parsed writer schema), for schema resolution.
        self._writers: dict[bytes, tuple[str, Any]] = {}
        # The same schemas with timestamps as plain longs (decode(raw_times=True)); the
        # fingerprints are the same, the parsing canonical form has no logical types.
        plain_named: dict[str, Any] = {}
        # name -> (field, lowest, highest) of its timestamps: the integers a datetime can hold.
        self._time_ranges: dict[str, tuple[tuple[str, int, int], ...]] = {}
        # fingerprint of a current version -> (name, generated reader): raw_times' fast path.
        self._fast: dict[bytes, tuple[str, fastread.Reader]] = {}
        # name -> (field, unit) of its timestamps, for schemas whose every timestamp is a
        # top-level field: their generated reader serves decode() with datetimes too.
        self._time_units: dict[str, tuple[tuple[str, timedelta], ...]] = {}
        # name -> compiled body encoder of its current version (schemas/fastwrite.py).
        self._fast_writers: dict[str, fastwrite.Encoder] = {}
        self._plain: dict[str, Any] = {}
        self._plain_writers: dict[bytes, tuple[str, Any]] = {}
        for name in SCHEMA_FILES:
            parsed = fastavro.parse_schema(load_schema_json(name), named_schemas=self._named)
            self._schemas[name] = parsed
            self._fingerprints[name] = schema_fingerprint(parsed)
            self._writers[self._fingerprints[name]] = (name, parsed)
            plain = fastavro.parse_schema(
                _plain_times(load_schema_json(name)), named_schemas=plain_named
            )
            self._plain[name] = plain
            self._plain_writers[self._fingerprints[name]] = (name, plain)
            self._time_ranges[name] = _time_ranges(load_schema_json(name))
            with suppress(fastread.Unsupported):
                ranges = {field: (lo, hi) for field, lo, hi in self._time_ranges[name]}
                self._fast[self._fingerprints[name]] = (name, fastread.reader(plain, ranges))
            if (write := fastwrite.compile_record(cast(dict[str, Any], parsed))) is not None:
                self._fast_writers[name] = write
            units = _top_level_time_units(load_schema_json(name))
            if units is not None:
                self._time_units[name] = units
        for name, versions in (extra_writer_schemas or {}).items():
            for raw in versions:
                named = dict(self._named)
                parsed = fastavro.parse_schema(raw, named_schemas=named)
                self._writers[schema_fingerprint(parsed)] = (name, parsed)
                plain = fastavro.parse_schema(_plain_times(raw), named_schemas=dict(plain_named))
                self._plain_writers[schema_fingerprint(parsed)] = (name, plain)

    def schema(self, name: str) -> Any:
        return self._schemas[name]

    def encode(self, name: str, record: Mapping[str, Any]) -> bytes:
        """Encode ``record`` with the current version of schema ``name``."""
        if name in EMBEDDED:
            record = {
                **record,
                **{
                    # bytes: already encoded (by ``encode``, with the current version)
                    field: value
                    if isinstance(value := record[field], bytes)
                    else self.encode(inner, value)
                    for field, inner in EMBEDDED[name].items()
                },
            }
        if (write := self._fast_writers.get(name)) is not None:
            try:
                return MAGIC + self._fingerprints[name] + write(record)
            except fastwrite.REFUSALS:
                pass  # fastavro encodes it, or refuses it with its own error
        buf = io.BytesIO()
        buf.write(MAGIC)
        buf.write(self._fingerprints[name])
        fastavro.schemaless_writer(buf, self._schemas[name], dict(record))
        return buf.getvalue()

    def is_current(self, name: str, data: bytes) -> bool:
        """Whether ``data`` was encoded with the current version of schema ``name`` (so that
        decoding and encoding it again would give the same bytes)."""
        return data[2:HEADER_LEN] == self._fingerprints[name] and data[:2] == MAGIC

    def name_of(self, data: bytes) -> str | None:
        """The record name of single-object encoded ``data``, when its writer is known."""
        if len(data) < HEADER_LEN or data[:2] != MAGIC:
            return None
        known = self._writers.get(data[2:HEADER_LEN])
        return known[0] if known else None

    def decode(self, name: str, data: bytes, *, raw_times: bool = False) -> Record:
        """Decode bytes written by any version of schema ``name`` into the current version.

        ``raw_times``: timestamps as the integers on the wire (epoch milliseconds, or
        microseconds, as each field's logical type says) instead of datetimes, for a reader
        that only passes them on (the sink: ClickHouse takes them as they are).

        Raises InvalidEvent when the bytes are not an eventline Avro record of that schema.
        """
        if len(data) < HEADER_LEN or data[:2] != MAGIC:
            raise InvalidEvent("value", f"not an Avro single-object {name} record")
        fast = self._fast.get(data[2:HEADER_LEN])
        if fast is not None and fast[0] == name and (raw_times or name in self._time_units):
            try:
                record: Record = fast[1](data, HEADER_LEN)
            except Exception:  # anything unusual: fastavro decides, below
                pass
            else:
                if not raw_times:  # as fastavro makes them: the epoch plus the ticks
                    for field, unit in self._time_units[name]:
                        if (ticks := record[field]) is not None:
                            record[field] = _EPOCH + ticks * unit
                for field, inner in EMBEDDED.get(name, {}).items():
                    record[field] = self.decode(inner, record[field], raw_times=raw_times)
                return record  # its reader checked the times' ranges
        readers, writers = (
            (self._plain, self._plain_writers)
            if raw_times
            else (
                self._schemas,
                self._writers,
            )
        )
        reader = readers.get(name)
        if reader is None:
            raise InvalidEvent("value", f"no schema named {name}")
        writer_name, writer = writers.get(data[2:HEADER_LEN], (name, reader))
        if writer_name != name:
            raise InvalidEvent("value", f"record is a {writer_name}, expected {name}")
        try:
            # No reader schema when the writer is the current version: nothing to resolve.
            decoded = fastavro.schemaless_reader(
                io.BytesIO(data[HEADER_LEN:]), writer, None if writer is reader else reader
            )
        except Exception as exc:  # fastavro raises several types for corrupt input
            raise InvalidEvent("value", f"undecodable {name} record: {exc}") from exc
        if not isinstance(decoded, dict):
            raise InvalidEvent("value", f"{name} record did not decode to an object")
        for field, inner in EMBEDDED.get(name, {}).items():
            decoded[field] = self.decode(inner, decoded[field], raw_times=raw_times)
        return self._as_datetimes_would_be(name, decoded) if raw_times else decoded

    def raw_reader(self, name: str) -> Callable[[bytes], Record]:
        """``decode(name, data, raw_times=True)`` as one function, for a reader of many
        records (the sink): a record of the current version goes straight to its generated
        reader (one prefix test, no lookups); anything else, or anything it steps aside
        from, to ``decode``, which decides as always."""
        fast = self._fast.get(self._fingerprints[name])
        if fast is None or fast[0] != name:
            return lambda data: self.decode(name, data, raw_times=True)
        read, head, decode = fast[1], MAGIC + self._fingerprints[name], self.decode
        embedded = tuple(
            (field, self.raw_reader(inner)) for field, inner in EMBEDDED.get(name, {}).items()
        )

        def read_raw(data: bytes) -> Record:
            if data.startswith(head):
                try:
                    record: Record = read(data, HEADER_LEN)
                except Exception:  # anything unusual: decode (fastavro) decides
                    return decode(name, data, raw_times=True)
                for field, inner in embedded:
                    record[field] = inner(record[field])
                return record  # its reader checked the times' ranges
            return decode(name, data, raw_times=True)

        return read_raw

    def raw_row_reader(
        self, name: str, fields: tuple[str, ...]
    ) -> Callable[[bytes], tuple[Any, ...]]:
        """``raw_reader`` giving the tuple of ``fields`` (a row) instead of the record, for a
        schema that embeds none: its generated reader makes the tuple itself (no dict); any
        other record is decoded and its fields taken."""
        if name in EMBEDDED:
            raise ValueError(f"{name} embeds records: use raw_reader")
        fingerprint = self._fingerprints[name]
        fast = self._fast.get(fingerprint)
        head, decode = MAGIC + fingerprint, self.decode

        def slow(data: bytes) -> tuple[Any, ...]:
            record = decode(name, data, raw_times=True)
            return tuple(record[field] for field in fields)

        if fast is None or fast[0] != name:
            return slow
        ranges = {field: (lo, hi) for field, lo, hi in self._time_ranges[name]}
        read = fastread.reader(self._plain[name], ranges, fields)

        def read_row(data: bytes) -> tuple[Any, ...]:
            if data.startswith(head):
                try:
                    row: tuple[Any, ...] = read(data, HEADER_LEN)
                    return row
                except Exception:  # anything unusual: decode (fastavro) decides
                    pass
            return slow(data)

        return read_row

    def _as_datetimes_would_be(self, name: str, record: Record) -> Record:
        """A record decoded with raw times, refused as it would be with datetimes: a time
        no datetime can hold (before year 1, after 9999) makes it undecodable."""
        for field, lowest, highest in self._time_ranges.get(name, ()):
            value = record.get(field)
            if value is not None and not lowest <= value <= highest:
                raise InvalidEvent("value", f"undecodable {name} record: {field} is out of range")
        return record


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNITS = {
    "timestamp-millis": timedelta(milliseconds=1),
    "timestamp-micros": timedelta(microseconds=1),
}


def _top_level_times(schema: dict[str, Any]) -> list[tuple[str, timedelta]]:
    """(field, unit) of each top-level timestamp of a schema."""
    found = []
    for field in schema["fields"]:
        kinds = field["type"] if isinstance(field["type"], list) else [field["type"]]
        for kind in kinds:
            unit = _UNITS.get(kind.get("logicalType", "")) if isinstance(kind, dict) else None
            if unit is not None:
                found.append((field["name"], unit))
    return found


def _time_ranges(schema: dict[str, Any]) -> tuple[tuple[str, int, int], ...]:
    """(field, lowest, highest) of each top-level timestamp of a schema: the integers that
    fastavro turns into a datetime (it adds them to the epoch) without an OverflowError."""
    return tuple(
        (
            name,
            -((_EPOCH - datetime.min.replace(tzinfo=UTC)) // unit),
            (datetime.max.replace(tzinfo=UTC) - _EPOCH) // unit,
        )
        for name, unit in _top_level_times(schema)
    )


def _top_level_time_units(schema: dict[str, Any]) -> tuple[tuple[str, timedelta], ...] | None:
    """(field, unit) of each top-level timestamp; None when a timestamp is nested deeper
    (a generated reader would leave it an integer)."""
    found = _top_level_times(schema)
    every = json.dumps(schema).count('"timestamp-')
    return tuple(found) if every == len(found) else None


def _plain_times(schema: Any) -> Any:
    """A schema's JSON with its timestamp logical types removed (their longs stay longs)."""
    if isinstance(schema, list):
        return [_plain_times(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    plain = {k: _plain_times(v) for k, v in schema.items()}
    if str(plain.get("logicalType", "")).startswith("timestamp-"):
        del plain["logicalType"]
    return plain


@cache
def codec() -> Codec:
    """The process-wide codec (schemas parsed once)."""
    return Codec()
