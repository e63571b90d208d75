"""Avro encoding of the records the gateway writes most (``IncomingRecord``), specialized once
per schema: a third of fastavro's cost per record, byte for byte the same output as
``schemas.codec`` (tests/unit/schemas/test_fastwrite.py compares them).

The schema is compiled into one small encoder per field. Only what flat records need is
compiled (string, enum, boolean, int, long, double, timestamp-millis, and unions of null with
one of those); a schema with anything else gets no encoder, and a record the encoders cannot
take (a wrong type) is handed to the codec, which encodes it or refuses it as it always did.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import cache
from typing import Any

import fastavro
from fastavro.write import LOGICAL_WRITERS

from schemas.codec import MAGIC, codec, load_schema_json, schema_fingerprint

Encoder = Callable[[Any], bytes]


def _varint(n: int) -> bytes:
    """Avro's zig-zag variable-length encoding of an int or a long."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = [_varint(i) for i in range(64)]  # lengths below 64 are one byte
_DOUBLE = struct.Struct("<d").pack


def _string(value: str) -> bytes:
    data = value.encode("utf-8")
    size = len(data)
    return (_SMALL[size] if size < 64 else _varint(size)) + data


def _long(value: int) -> bytes:
    if type(value) is not int:
        raise TypeError(f"not an int: {value!r}")
    return _varint(value)


def _boolean(value: bool) -> bytes:
    if type(value) is not bool:
        raise TypeError(f"not a bool: {value!r}")
    return b"\x01" if value else b"\x00"


def _double(value: float) -> bytes:
    if type(value) is not float and type(value) is not int:
        raise TypeError(f"not a number: {value!r}")
    return _DOUBLE(value)


def _checked_string(value: str) -> bytes:
    if type(value) is not str:
        raise TypeError(f"not a string: {value!r}")
    return _string(value)


_PRIMITIVES: dict[str, Encoder] = {
    "string": _checked_string,
    "long": _long,
    "int": _long,
    "boolean": _boolean,
    "double": _double,
}


def _compile(schema: Any) -> Encoder | None:
    """An encoder of one value of ``schema``; None when the schema is not one compiled here."""
    if isinstance(schema, str):
        return _PRIMITIVES.get(schema)
    if isinstance(schema, list):
        return _nullable(schema)
    if not isinstance(schema, dict):
        return None
    kind, logical = schema.get("type"), schema.get("logicalType")
    if kind == "enum":
        index = {symbol: _varint(i) for i, symbol in enumerate(schema["symbols"])}
        return lambda value: index[value]
    if kind == "long" and logical == "timestamp-millis":
        prepare = LOGICAL_WRITERS["long-timestamp-millis"]
        return lambda value: _long(prepare(value, schema))
    if logical is None and isinstance(kind, str):
        return _PRIMITIVES.get(kind)
    return None


def _nullable(union: list[Any]) -> Encoder | None:
    """``["null", X]``: 0 for None, else 1 and X."""
    if len(union) != 2 or union[0] != "null":
        return None
    inner = _compile(union[1])
    if inner is None:
        return None
    return lambda value: b"\x00" if value is None else b"\x02" + inner(value)


def compile_record(schema: dict[str, Any]) -> Callable[[dict[str, Any]], bytes] | None:
    """The schemaless body encoder of a flat record schema (fields absent from a record take
    their default, as fastavro does); None when a field's type is not compiled here."""
    fields = []
    for field in schema["fields"]:
        encode = _compile(field["type"])
        if encode is None:
            return None
        fields.append((field["name"], encode, field.get("default")))

    def encode_record(record: dict[str, Any]) -> bytes:
        return b"".join([encode(record.get(name, default)) for name, encode, default in fields])

    return encode_record


@cache
def _record_encoder(name: str) -> tuple[bytes, Callable[[dict[str, Any]], bytes] | None]:
    parsed = fastavro.parse_schema(load_schema_json(name), named_schemas={})
    assert isinstance(parsed, dict), f"{name} is not a record schema"
    return MAGIC + schema_fingerprint(parsed), compile_record(parsed)


def encode(name: str, record: dict[str, Any]) -> bytes:
    """``codec().encode(name, record)``, faster for the schemas compiled here."""
    header, body = _record_encoder(name)
    if body is not None:
        try:
            return header + body(record)
        except (TypeError, KeyError, ValueError, AttributeError, OverflowError):
            pass  # the codec encodes it, or refuses it with its own error
    return codec().encode(name, record)
