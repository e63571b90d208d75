"""Avro record bodies written by encoders generated once per schema: a fifth of fastavro's
cost per record, byte for byte fastavro's output (tests/unit/schemas/test_fastwrite.py
compares them). ``eventline.schemas.codec`` encodes with them where it can.

The encoder is straight-line Python generated once from the schema, as the readers of
``eventline.schemas.fastread`` are (a call per field cost as much as the field's own work). Only
what flat records need is generated (string, bytes, enum, boolean, int, long, double, timestamps
in millis or micros, arrays of strings, and unions of null with one of those); a schema with
anything else gets no encoder, and a value the encoder cannot take (a wrong type, a long past
64 bits) raises one of ``REFUSALS``, so that the codec hands the record to fastavro, which
encodes it or refuses it as it always did.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

from fastavro.write import LOGICAL_WRITERS

# What an encoder raises for a value it cannot take: fastavro decides instead.
REFUSALS = (TypeError, KeyError, ValueError, AttributeError, OverflowError)
Encoder = Callable[[Mapping[str, Any]], bytes]
_DOUBLE = struct.Struct("<d").pack


def _varint(n: int) -> bytes:
    """Avro's zig-zag variable-length encoding of an int or a long."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = tuple(_varint(i) for i in range(64))  # lengths below 64 are one byte
_SOME_SMALL = tuple(b"\x02" + s for s in _SMALL)  # the same after a union's index 1


def _long(value: int) -> bytes:
    if type(value) is not int:
        raise TypeError(f"not an int: {value!r}")
    if not -(2**63) <= value < 2**63:  # fastavro refuses what a C long cannot hold
        raise OverflowError(f"out of a long's range: {value}")
    return _varint(value)


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
    out = [_varint(len(values))]
    for value in values:
        if type(value) is not str:
            raise TypeError(f"not a string: {value!r}")
        data = value.encode()
        out.append((_SMALL[len(data)] if len(data) < 64 else _varint(len(data))) + data)
    out.append(b"\x00")
    return b"".join(out)


class _Times:
    """Timestamps (millis or micros) of datetimes, the last one kept: every record of a
    request has the same receipt time (the same object), and most their occurrence time too."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.prepare = LOGICAL_WRITERS[f"long-{schema['logicalType']}"]
        self.last: tuple[Any, bytes] = (object(), b"")  # replaced whole: safe across threads

    def encode(self, value: Any) -> bytes:
        last = self.last
        if value is last[0]:  # the same object, so the same instant
            return last[1]
        data = _long(self.prepare(value, self.schema))
        self.last = (value, data)
        return data


def _string_lines(var: str, tag: bytes) -> list[str]:
    """Code appending string ``var`` (with union index 1 first when ``tag``)."""
    small = "_SOME_SMALL" if tag else "_SMALL"
    long_prefix = "b'\\x02' + _varint(n)" if tag else "_varint(n)"
    return [
        f"if type({var}) is not str: raise TypeError('not a string')",
        f"{var} = {var}.encode()",
        f"n = len({var})",
        f"put({small}[n] if n < 64 else {long_prefix})",
        f"put({var})",
    ]


def _value_lines(schema: Any, var: str, tag: bytes, consts: dict[str, Any]) -> list[str] | None:
    """Code appending one value of ``schema`` held in ``var``; None when not generated here.
    ``tag`` is the union index byte that goes first (empty outside a union)."""
    first = [f"put({tag!r})"] if tag else []
    kind = schema.get("type") if isinstance(schema, dict) else schema
    logical = schema.get("logicalType") if isinstance(schema, dict) else None
    if kind == "enum" and logical is None:
        name = f"E{len(consts)}"
        consts[name] = {s: tag + _varint(i) for i, s in enumerate(schema["symbols"])}
        return [f"put({name}[{var}])"]
    if kind == "array" and logical is None and schema.get("items") == "string":
        return [*first, f"put(_strings({var}))"]
    if kind == "long" and logical in ("timestamp-millis", "timestamp-micros"):
        name = f"T{len(consts)}"
        consts[name] = _Times(schema).encode
        return [*first, f"put({name}({var}))"]
    if logical is not None:
        return None
    if kind == "string":
        return _string_lines(var, tag)
    if kind in ("int", "long"):
        return [*first, f"put(_long({var}))"]
    if kind == "bytes":
        return [*first, f"put(_bytes({var}))"]
    if kind == "boolean":
        return [
            f"if type({var}) is not bool: raise TypeError('not a bool')",
            *first,
            f"put(b'\\x01' if {var} else b'\\x00')",
        ]
    if kind == "double":
        return [
            f"if type({var}) is not float and type({var}) is not int: raise TypeError('number')",
            *first,
            f"put(_double({var}))",
        ]
    return None


def _field_lines(field: dict[str, Any], consts: dict[str, Any]) -> list[str] | None:
    name, kind = field["name"], field["type"]
    default = field.get("default")
    lines = [f"v = get({name!r}, {default!r})"]
    if not isinstance(kind, list):
        inner = _value_lines(kind, "v", b"", consts)
        return None if inner is None else lines + inner
    if len(kind) != 2 or kind[0] != "null":
        return None
    inner = _value_lines(kind[1], "v", b"\x02", consts)
    if inner is None:
        return None
    return [*lines, "if v is None:", "    put(b'\\x00')", "else:", *("    " + x for x in inner)]


def compile_record(schema: dict[str, Any]) -> Encoder | None:
    """The schemaless body encoder of a flat record schema (fields absent from a record take
    their default, as fastavro does); None when a field's type is not generated here."""
    consts: dict[str, Any] = {}
    body: list[str] = []
    for field in schema["fields"]:
        lines = _field_lines(field, consts)
        if lines is None:
            return None
        body += lines
    source = "\n".join(
        [
            "def encode_record(record):",
            "    get = record.get",
            "    out = []",
            "    put = out.append",
            *("    " + line for line in body),
            "    return b''.join(out)",
        ]
    )
    scope: dict[str, Any] = {
        "_SMALL": _SMALL,
        "_SOME_SMALL": _SOME_SMALL,
        "_varint": _varint,
        "_long": _long,
        "_bytes": _bytes,
        "_strings": _strings,
        "_double": _DOUBLE,
        **consts,
    }
    # Code made from our own schema files (never from input), compiled once per schema.
    exec(compile(source, f"<writer of {schema.get('name')}>", "exec"), scope)
    encode_record: Encoder = scope["encode_record"]
    return encode_record
