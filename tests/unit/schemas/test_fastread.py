"""eventline.schemas.fastread: the generated readers give what fastavro gives, or step aside, with
times as integers (the sink) or as datetimes (the worker).

Random records of every schema decode the same through both; random damage to their bytes
gives the same record, or the same refusal, through the codec with and without them."""

from __future__ import annotations

import io
import math
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventline.schemas import fastread
from eventline.schemas.codec import (
    HEADER_LEN,
    SCHEMA_FILES,
    Codec,
    _plain_times,
    codec,
    load_schema_json,
)
from eventline.schemas.fastread import Unsupported

NAMES = list(SCHEMA_FILES)
LONG = st.integers(-(2**63), 2**63 - 1)


def values(kind: Any) -> st.SearchStrategy[Any]:
    """Values of an Avro type, edges included (any text, any long, any double)."""
    if isinstance(kind, list):
        return st.one_of(*(values(k) for k in kind))
    if isinstance(kind, dict):
        if kind["type"] == "enum":
            return st.sampled_from(kind["symbols"])
        if kind["type"] == "array":
            return st.lists(values(kind["items"]), max_size=4)
        return values(kind["type"])
    return {
        "null": st.none(),
        "string": st.text(max_size=20),
        "bytes": st.binary(max_size=20),
        "long": LONG,
        "int": st.integers(-(2**31), 2**31 - 1),
        "double": st.floats(),
        "boolean": st.booleans(),
    }[kind]


def records(name: str) -> st.SearchStrategy[dict[str, Any]]:
    schema = _plain_times(load_schema_json(name))
    return st.fixed_dictionaries({f["name"]: values(f["type"]) for f in schema["fields"]})


def same(value: Any) -> Any:
    """NaN made comparable."""
    if isinstance(value, dict):
        return {k: same(v) for k, v in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return value


@pytest.mark.parametrize("name", NAMES)
def test_every_schema_has_a_reader(name: str) -> None:
    fastread.reader(_plain_times(load_schema_json(name)))


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_a_reader_reads_what_fastavro_reads(name: str, data: st.DataObject) -> None:
    schema = fastavro.parse_schema(_plain_times(load_schema_json(name)), named_schemas={})
    record = data.draw(records(name))
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, record)
    body = b"\x00" * HEADER_LEN + buf.getvalue()
    expected = fastavro.schemaless_reader(io.BytesIO(body[HEADER_LEN:]), schema)
    assert same(fastread.reader(schema)(body, HEADER_LEN)) == same(expected)


def test_other_types_are_not_generated() -> None:
    for kind in (["string", "long"], {"type": "map", "values": "string"}, "eventline.Other"):
        with pytest.raises(Unsupported):
            fastread.reader({"name": "x", "fields": [{"name": "f", "type": kind}]})


def fastavro_only() -> Codec:
    plain = Codec()
    plain._fast.clear()
    return plain


SLOW = fastavro_only()


def outcome(codec_: Codec, name: str, data: bytes, raw_times: bool = True) -> Any:
    try:
        return same(codec_.decode(name, data, raw_times=raw_times))
    except Exception as exc:
        return type(exc).__name__


DAMAGE = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 400), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 400), st.just(0)),
    st.tuples(st.just("add"), st.integers(0, 400), st.integers(0, 255)),
    st.tuples(st.just("drop"), st.integers(0, 400), st.just(0)),
)


def damaged(data: bytes, damage: tuple[str, int, int]) -> bytes:
    what, at, byte = damage
    if len(data) <= HEADER_LEN:
        return data + bytes([byte])
    at = HEADER_LEN + at % (len(data) - HEADER_LEN)
    if what == "flip":
        return data[:at] + bytes([data[at] ^ byte]) + data[at + 1 :]
    if what == "cut":
        return data[:at]
    if what == "add":
        return data[:at] + bytes([byte]) + data[at:]
    return data[:at] + data[at + 1 :]


@pytest.mark.parametrize("name", ["IncomingRecord", "EventStatus", "CanonicalEvent", "Contact"])
@settings(max_examples=200, deadline=None)
@given(data=st.data(), damage=st.lists(DAMAGE, min_size=1, max_size=3))
def test_damaged_records_decode_as_fastavro_decodes_them(
    name: str, data: st.DataObject, damage: list[tuple[str, int, int]]
) -> None:
    record = data.draw(records(name))
    if name == "EventStatus":
        inner = data.draw(records("IncomingRecord"))
        record["record"] = _with_times(inner)  # the codec encodes the embedded record
    encoded = codec().encode(name, _with_times(record))
    for step in damage:
        encoded = damaged(encoded, step)
    assert outcome(codec(), name, encoded) == outcome(SLOW, name, encoded)
    # with datetimes (the worker's decoding): the same datetimes as fastavro's, or the same refusal
    assert outcome(codec(), name, encoded, False) == outcome(SLOW, name, encoded, False)
    assert reader_outcome(name, encoded) == outcome(SLOW, name, encoded)


def reader_outcome(name: str, data: bytes) -> Any:
    """What ``Codec.raw_reader`` (the sink's) makes of ``data``."""
    try:
        return same(codec().raw_reader(name)(data))
    except Exception as exc:
        return type(exc).__name__


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_raw_reader_reads_what_decode_reads(name: str, data: st.DataObject) -> None:
    record = _with_times(data.draw(records(name)))
    if name == "EventStatus":
        record["record"] = _with_times(data.draw(records("IncomingRecord")))
    encoded = codec().encode(name, record)
    assert reader_outcome(name, encoded) == outcome(SLOW, name, encoded)
    assert reader_outcome(name, b"\xc3\x01" + b"\x00" * 8 + encoded[10:]) == outcome(
        SLOW, name, b"\xc3\x01" + b"\x00" * 8 + encoded[10:]
    )  # an unknown writer: decode decides


def _with_times(record: dict[str, Any]) -> dict[str, Any]:
    """Times within what a datetime can hold (the codec encodes datetimes and longs alike)."""
    return {
        k: v % 2**52 if k.endswith("_at") and isinstance(v, int) else v for k, v in record.items()
    }


@pytest.mark.parametrize("length", range(1, 12))
def test_varints_of_every_length_read_as_fastavro_reads_them(length: int) -> None:
    """Unrolled varints: up to nine bytes (63 bits) read as fastavro reads them, canonical or
    padded with continuation bytes; past that a reader gives the same or steps aside (then
    fastavro decides)."""
    schema = fastavro.parse_schema({"type": "record", "name": "x", "fields": [
        {"name": "n", "type": "long"}]})  # fmt: skip
    read = fastread.reader(schema)
    for last in (0x00, 0x01, 0x7F):
        body = bytes([0xFF] * (length - 1) + [last])
        try:
            expected: Any = fastavro.schemaless_reader(io.BytesIO(body), schema)
        except Exception:
            expected = "refused"
        try:
            got: Any = read(b"\x00" * HEADER_LEN + body, HEADER_LEN)
        except Exception:
            got = "refused"
        assert got == expected or (got == "refused" and length >= 10), (length, last)
