"""sinks.store: which insert errors are about the rows (the sink reports them failed) and which
heal (the sink retries the batch): a good row must never be reported failed for an outage."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError

from eventline.errors import TransientError
from sinks.store import RowsRefused, Store


class FakeClient:
    def __init__(self, error: Exception, answers: bool = True) -> None:
        self.error = error
        self.up = answers

    def insert(self, *_args: Any, **_kwargs: Any) -> None:
        raise self.error

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
