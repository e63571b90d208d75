"""JSON from clients, decoded strictly: nothing is changed silently and nothing can crash the
gateway (invalid UTF-8, NaN, Infinity, numbers past a double, unpaired surrogates, nesting
deep enough for a RecursionError are all refused, naming where they are). Pure."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

from eventline.producers.problems import InputRejected, Problem
from eventline.schemas.limits import MAX_DEPTH, json_depth

# A whole body may nest a few levels deeper than the properties inside it (Segment's batch:
# body -> batch -> call -> properties); the per-field bound is MAX_DEPTH.
BODY_DEPTH = MAX_DEPTH + 8
NOT_FINITE = "must be a finite number (NaN, Infinity and numbers past ±1.8e308 are not numbers)"
SURROGATE = re.compile("[\ud800-\udfff]")
NOT_TEXT = "is not valid Unicode text (an unpaired surrogate escape)"
# Every ASCII digit as "0": a run of 19 digits (what rb"\d{19}" finds) is then a run of 19
# zeros, found by a substring search, a tenth of the regex's time on a bulk body.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_NINETEEN_DIGITS = b"0" * 19
_REFUSED = object()


def malformed(reason: str, field: str = "body") -> InputRejected:
    return InputRejected([Problem(field=field, reason=f"is not valid JSON: {reason}")])


def decode(data: bytes | str, field: str = "body", depth: int = BODY_DEPTH) -> Any:
    """The JSON value of ``data`` (UTF-8 when bytes). Raises InputRejected naming the field
    (``field`` for the document, the path inside it for a bad value)."""
    quick = _quick(data)
    if quick is not _REFUSED:
        if _brackets(data) > depth and _decoded_depth(quick) > depth:
            raise malformed(f"nests deeper than {depth} levels", field)
        return quick
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise malformed(f"invalid UTF-8 at byte {exc.start}", field) from None
    else:
        text = data
    too_deep = f"nests deeper than {depth} levels"
    try:
        value = json.loads(text)
    except RecursionError:
        raise malformed(too_deep, field) from None
    except ValueError as exc:
        raise malformed(str(exc), field) from None
    if json_depth(value) > depth:
        raise malformed(too_deep, field)
    problems = unrepresentable(value, field)
    if problems:
        raise InputRejected(problems)
    return value


def _quick(data: bytes | str) -> Any:
    """orjson's value of ``data``, or _REFUSED. orjson refuses everything the strict path
    refuses (invalid UTF-8, NaN, Infinity, numbers past a double, unpaired surrogates, deep
    nesting), each then decoded again below to name the problem; it would turn an integer past
    64 bits into a float, so a document with 19 digits in a row takes the strict path too."""
    if isinstance(data, str) or _NINETEEN_DIGITS in data.translate(_DIGITS_AS_ZERO):
        return _REFUSED
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return _REFUSED


def _brackets(data: bytes | str) -> int:
    """Opening brackets in the text: at least the depth of its value (each object or array
    opens with one; those inside strings only add to the count)."""
    if isinstance(data, str):
        return data.count("{") + data.count("[")
    return data.count(b"{") + data.count(b"[")


def _decoded_depth(value: Any) -> int:
    """``json_depth`` of a decoded document (dicts, lists and scalars only), visiting only its
    containers: a sixth of the time of the general walk on a bulk body."""
    if type(value) is not dict and type(value) is not list:
        return 0
    deepest = 1
    stack = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        item, level = pop()
        deepest = max(deepest, level)
        for inner in item.values() if type(item) is dict else item:
            if type(inner) is dict or type(inner) is list:
                push((inner, level + 1))
    return deepest


def unrepresentable(value: Any, field: str = "body") -> list[Problem]:
    """Non-finite numbers and unpaired surrogates anywhere in a decoded value (at most 5)."""
    found: list[Problem] = []
    stack: list[tuple[str, Any]] = [("", value)]
    while stack and len(found) < 5:
        where, item = stack.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                path = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and not key.isascii() and SURROGATE.search(key):
                    found.append(Problem(field=_named(field, where), reason=NOT_TEXT))
                stack.append((path, inner))
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", inner) for i, inner in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            found.append(Problem(field=_named(field, where), reason=NOT_FINITE))
        elif isinstance(item, str) and not item.isascii() and SURROGATE.search(item):
            found.append(Problem(field=_named(field, where), reason=NOT_TEXT))
    return found


def _named(field: str, path: str) -> str:
    """A path inside the body names itself (``properties.price``); inside a field, under it."""
    if not path:
        return field
    if field == "body":
        return path
    return f"{field}{path}" if path.startswith("[") else f"{field}.{path}"
