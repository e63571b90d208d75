"""Straight-line readers of our current schemas' Avro bodies, times as integers: the sink's
decoder (fastavro interprets a schema field by field, twice as slow on our records).

A reader is Python code generated once from a schema (records of null-unions, strings, bytes,
longs, doubles, booleans, enums and arrays of strings: what our schemas use). It returns a
record only when it read the whole body without a doubt; anything unusual (a union index, a
length or a varint out of the ordinary, bytes left over, a type it does not know) raises, and
the caller asks fastavro, which decides as it always did (schemas/codec.py).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

Reader = Callable[[bytes, int], dict[str, Any]]

_DOUBLE = struct.Struct("<d").unpack_from


class Unsupported(Exception):
    """The schema uses a type these readers do not generate code for."""


def _long(buf: bytes, pos: int) -> tuple[int, int]:
    """A zig-zag varint at ``pos``: (value, next position). At most 64 bits, as fastavro."""
    b = buf[pos]
    pos += 1
    n = b & 0x7F
    shift = 7
    while b & 0x80:
        if shift > 63:
            raise ValueError("varint longer than 64 bits")
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
    if n >> 64:
        raise ValueError("varint longer than 64 bits")
    return (n >> 1) ^ -(n & 1), pos


def _strings(buf: bytes, pos: int) -> tuple[list[str], int]:
    """An array of strings (positive block counts only)."""
    out: list[str] = []
    while True:
        count, pos = _long(buf, pos)
        if count == 0:
            return out, pos
        if count < 0:
            raise ValueError("array block with a size")
        for _ in range(count):
            size, pos = _long(buf, pos)
            if size < 0 or pos + size > len(buf):
                raise ValueError("string length out of the body")
            out.append(buf[pos : pos + size].decode())
            pos += size


def _varint(var: str) -> list[str]:
    """Code reading a varint into ``var``, inline (a call costs as much as a short varint):
    the same steps and the same 64-bit bound as _long."""
    return [
        "b = buf[pos]",
        "pos += 1",
        "if b < 0x80:",
        f"    {var} = (b >> 1) ^ -(b & 1)",
        "else:",
        "    n = b & 0x7F",
        "    shift = 7",
        "    while b & 0x80:",
        "        if shift > 63:",
        "            _bad()",
        "        b = buf[pos]",
        "        pos += 1",
        "        n |= (b & 0x7F) << shift",
        "        shift += 7",
        "    if n >> 64:",
        "        _bad()",
        f"    {var} = (n >> 1) ^ -(n & 1)",
    ]


def _value(
    kind: Any, name: str, consts: dict[str, Any], ranges: dict[str, tuple[int, int]]
) -> list[str]:
    """Code reading one value of type ``kind`` into ``out[name]``."""
    key = repr(name)
    if isinstance(kind, dict) and kind.get("type") == "enum":
        const = f"S{len(consts)}"
        consts[const] = tuple(kind["symbols"])
        return [*_varint("n"), f"out[{key}] = {const}[n] if n >= 0 else _bad()"]
    if isinstance(kind, dict) and kind.get("type") == "array" and kind.get("items") == "string":
        return [f"out[{key}], pos = _strings(buf, pos)"]
    if isinstance(kind, dict) and set(kind) <= {"type", "logicalType"}:
        kind = kind["type"]  # a long with a logical type: the raw long
    if kind in ("string", "bytes"):
        value = "buf[pos:end].decode()" if kind == "string" else "buf[pos:end]"
        return [
            *_varint("n"),
            "end = pos + n",
            "if n < 0 or end > size:",
            "    _bad()",
            f"out[{key}] = {value}",
            "pos = end",
        ]
    if kind in ("long", "int") and name in ranges:
        lowest, highest = ranges[name]
        return [
            *_varint("n"),
            f"if not {lowest} <= n <= {highest}:",
            "    _bad()",
            f"out[{key}] = n",
        ]
    if kind in ("long", "int"):
        return [*_varint("n"), f"out[{key}] = n"]
    if kind == "boolean":
        return [f"out[{key}] = buf[pos] != 0", "pos += 1"]
    if kind == "double":
        return [f"out[{key}] = _double(buf, pos)[0]", "pos += 8"]
    raise Unsupported(f"no generated reader for {kind!r}")


def _field(
    field: dict[str, Any], consts: dict[str, Any], ranges: dict[str, tuple[int, int]]
) -> list[str]:
    kind = field["type"]
    if isinstance(kind, list):
        if len(kind) != 2 or kind[0] != "null":
            raise Unsupported(f"no generated reader for the union {kind!r}")
        inner = ["    " + line for line in _value(kind[1], field["name"], consts, ranges)]
        # Index 0 (null) is the byte 0, index 1 the byte 2; anything else: ask fastavro.
        return [
            "u = buf[pos]",
            "pos += 1",
            "if u == 0:",
            f"    out[{field['name']!r}] = None",
            "elif u != 2:",
            "    _bad()",
            "else:",
            *inner,
        ]
    return _value(kind, field["name"], consts, ranges)


def _bad() -> Any:
    raise ValueError("not read here: fastavro decides")


def reader(schema: Any, ranges: dict[str, tuple[int, int]] | None = None) -> Reader:
    """The reader of the body of one record schema's records (a parsed or plain schema; raises
    Unsupported). ``ranges``: field -> (lowest, highest) a long may be, else fastavro decides
    (the times a datetime can hold)."""
    consts: dict[str, Any] = {}
    body = [line for field in schema["fields"] for line in _field(field, consts, ranges or {})]
    source = "\n".join(
        [
            "def read(buf, pos):",
            "    size = len(buf)",
            "    out = {}",
            *("    " + line for line in body),
            "    if pos != size:",
            "        _bad()",  # bytes left over: fastavro ignores them, so it decides
            "    return out",
        ]
    )
    scope: dict[str, Any] = {
        "_long": _long,
        "_strings": _strings,
        "_double": _DOUBLE,
        "_bad": _bad,
        **consts,
    }
    # Code made from our own schema files (never from input), compiled once per schema.
    exec(compile(source, f"<reader of {schema['name']}>", "exec"), scope)
    read: Reader = scope["read"]
    return read
