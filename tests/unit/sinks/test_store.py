"""eventline.sinks.store: which insert errors are about the rows (the sink reports them failed) and
which heal (the sink retries the batch): a good row must never be reported failed for an outage."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from clickhouse_connect.datatypes.registry import get_from_name
from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError

from eventline.core.errors import TransientError
from eventline.sinks.store import RowsRefused, Store, _as_ticks


class FakeClient:
    def __init__(self, error: Exception, answers: bool = True) -> None:
        self.error = error
        self.up = answers

    def insert(self, *_args: Any, **_kwargs: Any) -> None:
        raise self.error

    def query(self, *_args: Any, **_kwargs: Any) -> Any:
        return SimpleNamespace(column_names=("name", "type"), result_rows=[("c", "Int64")])

    def command(self, *_args: Any, **_kwargs: Any) -> int:
        if not self.up:
            raise OperationalError("connection refused")
        return 1


def _insert(error: Exception, answers: bool = True) -> None:
    Store(FakeClient(error, answers), "db", 10).insert("t", [(1,)], ["c"], "token")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "error",
    [
        DataError("Unable to create native array for column `v`"),
        struct.error("argument out of range"),
        OverflowError("int too big"),
        DatabaseError("Code: 252. DB::Exception: Too many partitions for single INSERT block"),
        DatabaseError("Code: 321. DB::Exception: Value is out of range of data type"),
        DatabaseError("refused", code=53),
    ],
)
def test_errors_about_the_rows_refuse_them(error: Exception) -> None:
    with pytest.raises(RowsRefused):
        _insert(error)


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("HTTPConnectionPool: Connection refused"),
        DatabaseError("Code: 252. DB::Exception: Too many parts (300) in all partitions"),
        DatabaseError("Code: 243. DB::Exception: Cannot reserve 1.00 MiB, not enough space"),
        DatabaseError("Code: 60. DB::Exception: Unknown table expression identifier"),
        DatabaseError("code: 164. readonly mode"),
        DatabaseError("HTTP 503 Service Unavailable"),
        RuntimeError("something else"),
    ],
)
def test_outages_and_unknown_errors_heal(error: Exception) -> None:
    with pytest.raises(TransientError):
        _insert(error)


def test_a_row_fault_code_while_clickhouse_does_not_answer_heals() -> None:
    with pytest.raises(TransientError):
        _insert(DatabaseError("refused", code=53), answers=False)


@pytest.mark.parametrize("column_type", ["DateTime64(3, 'UTC')", "Nullable(DateTime64(6, 'UTC'))"])
def test_datetimes_become_the_ticks_the_client_would_write(column_type: str) -> None:
    ch_type = get_from_name(column_type)
    base = datetime(2026, 11, 30, 23, 59, 59, 999_999, tzinfo=UTC)
    values = [base + timedelta(microseconds=d) for d in (-1_000_001, 0, 1, 999, 1000)]
    values += [datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)]
    expected = [ch_type._datetime64_ticks(v) for v in values]  # type: ignore[attr-defined]
    assert _as_ticks([*values, None, 7], column_type) == [*expected, None, 7]


def test_columns_of_other_types_and_ticks_alone_are_left_as_they_are() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert _as_ticks([at], "String") == [at]
    ticks = [1, 2, None]
    assert _as_ticks(ticks, "DateTime64(3, 'UTC')") is ticks
