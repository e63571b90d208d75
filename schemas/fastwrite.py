"""Avro record bodies written by encoders compiled once per schema: a third of fastavro's
cost per record, byte for byte fastavro's output (tests/unit/schemas/test_fastwrite.py
compares them). ``schemas.codec`` encodes with them where it can.

The schema is compiled into one small encoder per field. Only what flat records need is
compiled (string, bytes, enum, boolean, int, long, double, timestamps (millis, micros), arrays of
strings, and unions of null with one of those); a schema with anything else gets no encoder,
and a record the encoders cannot take (a wrong type) raises one of ``REFUSALS``, so that the
codec hands it to fastavro, which encodes it or refuses it as it always did.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

from fastavro.write import LOGICAL_WRITERS

Encoder = Callable[[Any], bytes]
# What a compiled encoder raises for a value it cannot take: fastavro decides instead.
REFUSALS = (TypeError, KeyError, ValueError, AttributeError, OverflowError)


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
    if not -(2**63) <= value < 2**63:  # fastavro refuses what a C long cannot hold
        raise OverflowError(f"out of a long's range: {value}")
    return _varint(value)


def _boolean(value: bool) -> bytes:
    if type(value) is not bool:
        raise TypeError(f"not a bool: {value!r}")
    return b"\x01" if value else b"\x00"


def _double(value: float) -> bytes:
    if type(value) is not float and type(value) is not int:
        raise TypeError(f"not a number: {value!r}")
    return _DOUBLE(value)


def _bytes(value: bytes) -> bytes:
    if type(value) is not bytes:
        raise TypeError(f"not bytes: {value!r}")
    size = len(value)
    return (_SMALL[size] if size < 64 else _varint(size)) + value


def _strings(values: list[str]) -> bytes:
    """An array of strings: one block of len(values) items, then the end (as fastavro)."""
    if type(values) is not list:
        raise TypeError(f"not a list: {values!r}")
    if not values:
        return b"\x00"
    return _varint(len(values)) + b"".join([_checked_string(v) for v in values]) + b"\x00"


def _checked_string(value: str) -> bytes:
    if type(value) is not str:
        raise TypeError(f"not a string: {value!r}")
    return _string(value)


_PRIMITIVES: dict[str, Encoder] = {
    "string": _checked_string,
    "bytes": _bytes,
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
    if kind == "array" and schema.get("items") == "string":
        return _strings
    if kind == "long" and logical in ("timestamp-millis", "timestamp-micros"):
        prepare = LOGICAL_WRITERS[f"long-{logical}"]
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


def compile_record(schema: dict[str, Any]) -> Callable[[Mapping[str, Any]], bytes] | None:
    """The schemaless body encoder of a flat record schema (fields absent from a record take
    their default, as fastavro does); None when a field's type is not compiled here."""
    fields = []
    for field in schema["fields"]:
        encode = _compile(field["type"])
        if encode is None:
            return None
        fields.append((field["name"], encode, field.get("default")))

    def encode_record(record: Mapping[str, Any]) -> bytes:
        return b"".join([encode(record.get(name, default)) for name, encode, default in fields])

    return encode_record
