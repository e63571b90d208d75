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

Reader = Callable[[bytes, int], Any]  # a record (dict), or a row (tuple) of chosen fields

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


# The zig-zag value of a one-byte varint (below 0x80), and the length a one-byte length
# prefix gives: a negative length (an odd byte) becomes one no body holds, so the position
# runs past the end and the read steps aside (see ``reader``).
_ZIGZAG = tuple((b >> 1) ^ -(b & 1) for b in range(0x80))
_PAST_ANY_BODY = 1 << 62
_LENGTH = tuple(b >> 1 if b % 2 == 0 else _PAST_ANY_BODY for b in range(0x80))


def _varint(var: str) -> list[str]:
    """Code reading a varint at ``pos`` into ``var``, inline (a call costs as much as a short
    varint): one-byte varints by table, longer ones by the same steps and the same 64-bit
    bound as _long."""
    return [
        "b = buf[pos]",
        "if b < 0x80:",
        f"    {var} = _zigzag[b]",
        "    pos += 1",
        "else:",
        *("    " + line for line in _long_varint(var)),
    ]


def _long_varint(var: str) -> list[str]:
    """The rest of a varint whose first byte ``b``, at ``pos``, has its high bit set: unrolled
    (a timestamp takes six bytes, a loop cost twice as much), at most ten bytes and 64 bits
    as _long."""
    lines = ["n = b & 0x7F"]
    indent = ""
    for k in range(1, 10):
        lines += [
            f"{indent}b = buf[pos + {k}]",
            f"{indent}n |= (b & 0x7F) << {7 * k}",
            f"{indent}if b < 0x80:",
            f"{indent}    pos += {k + 1}",
            f"{indent}else:",
        ]
        indent += "    "
    return [*lines, f"{indent}_bad()", "if n >> 64:", "    _bad()", f"{var} = (n >> 1) ^ -(n & 1)"]


def _text(var: str, kind: str) -> list[str]:
    """Code reading a string or bytes into ``var``. A slice past the end is not tested here:
    the position only moves forward, so it ends past the body and ``reader`` steps aside."""
    value = "buf[pos:end].decode()" if kind == "string" else "buf[pos:end]"
    return [
        "b = buf[pos]",
        "if b < 0x80:",
        "    pos += 1",
        "    end = pos + _length[b]",
        "else:",
        *("    " + line for line in _long_varint("n")),
        "    if n < 0:",
        "        _bad()",
        "    end = pos + n",
        f"{var} = {value}",
        "pos = end",
    ]


def _value(
    kind: Any, name: str, var: str, consts: dict[str, Any], ranges: dict[str, tuple[int, int]]
) -> list[str]:
    """Code reading one value of type ``kind`` (field ``name``) into the local ``var``."""
    if isinstance(kind, dict) and kind.get("type") == "enum":
        const = f"S{len(consts)}"
        # The one byte of each symbol's index: any other byte (a KeyError) steps aside.
        consts[const] = {2 * i: symbol for i, symbol in enumerate(kind["symbols"]) if i < 64}
        return [f"{var} = {const}[buf[pos]]", "pos += 1"]
    if isinstance(kind, dict) and kind.get("type") == "array" and kind.get("items") == "string":
        return [f"{var}, pos = _strings(buf, pos)"]
    if isinstance(kind, dict) and set(kind) <= {"type", "logicalType"}:
        kind = kind["type"]  # a long with a logical type: the raw long
    if kind in ("string", "bytes"):
        return _text(var, kind)
    if kind in ("long", "int") and name in ranges:
        lowest, highest = ranges[name]
        return [*_varint(var), f"if not {lowest} <= {var} <= {highest}:", "    _bad()"]
    if kind in ("long", "int"):
        return _varint(var)
    if kind == "boolean":
        return [f"{var} = buf[pos] != 0", "pos += 1"]
    if kind == "double":
        return [f"{var} = _double(buf, pos)[0]", "pos += 8"]
    raise Unsupported(f"no generated reader for {kind!r}")


def _field(
    field: dict[str, Any], var: str, consts: dict[str, Any], ranges: dict[str, tuple[int, int]]
) -> list[str]:
    kind = field["type"]
    if isinstance(kind, list):
        if len(kind) != 2 or kind[0] != "null":
            raise Unsupported(f"no generated reader for the union {kind!r}")
        inner = ["    " + line for line in _value(kind[1], field["name"], var, consts, ranges)]
        # Index 0 (null) is the byte 0, index 1 the byte 2; anything else: ask fastavro.
        return [
            "u = buf[pos]",
            "pos += 1",
            "if u == 0:",
            f"    {var} = None",
            "elif u != 2:",
            "    _bad()",
            "else:",
            *inner,
        ]
    return _value(kind, field["name"], var, consts, ranges)


def _bad() -> Any:
    raise ValueError("not read here: fastavro decides")


def reader(
    schema: Any, ranges: dict[str, tuple[int, int]] | None = None, row: tuple[str, ...] = ()
) -> Reader:
    """The reader of the body of one record schema's records (a parsed or plain schema; raises
    Unsupported). ``ranges``: field -> (lowest, highest) a long may be, else fastavro decides
    (the times a datetime can hold). ``row``: field names; the reader then gives a tuple of
    those fields' values (a row) instead of the record (a dict costs a fifth of a read).

    Each field is read into a local and the record is made at the end in one go. A read that
    ran past the end of the body (a length too large) is caught there: the position only
    moves forward, so it does not end where the body does."""
    consts: dict[str, Any] = {}
    fields = schema["fields"]
    body = [
        line
        for index, field in enumerate(fields)
        for line in _field(field, f"v{index}", consts, ranges or {})
    ]
    record = ", ".join(f"{field['name']!r}: v{index}" for index, field in enumerate(fields))
    if row:
        index_of = {field["name"]: index for index, field in enumerate(fields)}
        record = ", ".join(f"v{index_of[name]}" for name in row) + ","
    made = f"({record})" if row else f"{{{record}}}"
    source = "\n".join(
        [
            "def read(buf, pos, _zigzag=_zigzag, _length=_length, _double=_double):",
            *("    " + line for line in body),
            "    if pos != len(buf):",
            "        _bad()",  # past the end, or bytes left over (fastavro ignores them)
            f"    return {made}",
        ]
    )
    scope: dict[str, Any] = {
        "_zigzag": _ZIGZAG,
        "_length": _LENGTH,
        "_strings": _strings,
        "_double": _DOUBLE,
        "_bad": _bad,
        **consts,
    }
    # Code made from our own schema files (never from input), compiled once per schema.
    exec(compile(source, f"<reader of {schema['name']}>", "exec"), scope)
    read: Reader = scope["read"]
    return read
