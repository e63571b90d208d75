"""Columns of Python values as an Arrow table of ClickHouse's column types, for inserts.

pyarrow makes each column in C from the Python values, and ClickHouse parses Arrow itself: the
client's Native writer, in Python, costs about a microsecond a row more. The table takes what
the Native writer takes, or refuses it (ValueError, TypeError, OverflowError): a NULL in a
plain column, text that is not UTF-8, a number out of its column's range. A table with a type
not listed here is not made (None): the caller writes Native, as before.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

_PLAIN: dict[str, pa.DataType] = {
    "String": pa.string(),
    "Float64": pa.float64(),
    "Bool": pa.bool_(),
    "UInt64": pa.uint64(),
    "UInt32": pa.uint32(),
    "Array(String)": pa.list_(pa.string()),
}
_UNITS = {"0": "s", "3": "ms", "6": "us", "9": "ns"}
_DATETIME64 = re.compile(r"DateTime64\((\d)\s*(?:,\s*'UTC')?\)")
_WRAPPER = re.compile(r"(LowCardinality|Nullable)\((.*)\)")


def arrow_type(column_type: str) -> tuple[pa.DataType, bool] | None:
    """The Arrow type of a ClickHouse column type, and whether it may hold NULL (None when
    the type is not one our tables use). A DateTime64's values are ticks of its precision."""
    nullable = False
    while (wrapped := _WRAPPER.fullmatch(column_type)) is not None:
        nullable = nullable or wrapped.group(1) == "Nullable"
        column_type = wrapped.group(2)
    plain = _PLAIN.get(column_type)
    if plain is not None:
        return plain, nullable
    ticks = _DATETIME64.fullmatch(column_type)
    if ticks is not None and ticks.group(1) in _UNITS:
        return pa.timestamp(_UNITS[ticks.group(1)], tz="UTC"), nullable
    return None


def arrow_table(
    data: Sequence[list[Any]], columns: Sequence[str], types: Sequence[str]
) -> pa.Table | None:
    """The table of these columns (``data``: one list of values per column; DateTime64 values
    as ticks), or None when a column's type has no Arrow type here. Raises ValueError,
    TypeError or OverflowError for values their column cannot hold, as the Native writer."""
    kinds = [arrow_type(t) for t in types]
    if any(kind is None for kind in kinds):
        return None
    arrays = []
    for values, column, kind in zip(data, columns, kinds, strict=True):
        assert kind is not None
        try:
            array = pa.array(values, type=kind[0])
        except pa.ArrowInvalid:
            if kind[0] != pa.bool_():
                raise
            # The Native writer takes any value for a Bool by its truth: so do we.
            array = pa.array([v if v is None else bool(v) for v in values], type=kind[0])
        nulls = array.null_count
        if isinstance(array, pa.ListArray):
            nulls += array.flatten().null_count  # Array(String) holds no NULL either
        if nulls and not kind[1]:
            raise ValueError(f"NULL in the non-Nullable column {column}")
        arrays.append(array)
    return pa.Table.from_arrays(arrays, names=list(columns))
