"""eventline.sinks.arrow: rows inserted as Arrow are stored as the client's Native writer stores
them, and refused where it refuses them (so a refused row is still bisected and reported failed)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from eventline.sinks.arrow import arrow_table, arrow_type
from eventline.sinks.store import RowsRefused, Store


@pytest.mark.parametrize(
    ("column_type", "expected"),
    [
        ("String", (pa.string(), False)),
        ("LowCardinality(String)", (pa.string(), False)),
        ("LowCardinality(Nullable(String))", (pa.string(), True)),
        ("Nullable(DateTime64(3, 'UTC'))", (pa.timestamp("ms", tz="UTC"), True)),
        ("DateTime64(6, 'UTC')", (pa.timestamp("us", tz="UTC"), False)),
        ("UInt32", (pa.uint32(), False)),
        ("Int64", None),
        ("DateTime64(3, 'Europe/Paris')", None),
        ("Map(String, String)", None),
    ],
)
def test_arrow_types(column_type: str, expected: Any) -> None:
    assert arrow_type(column_type) == expected


@pytest.mark.parametrize(
    ("values", "column_type", "error"),
    [
        (["a", None], "String", ValueError),
        ([["a", None]], "Array(String)", ValueError),
        ([None], "Array(String)", ValueError),
        (["a\ud800"], "String", ValueError),
        ([2**32], "UInt32", ValueError),
        ([-1], "UInt64", OverflowError),
        ([2**63], "DateTime64(3, 'UTC')", OverflowError),
        (["x"], "Nullable(Float64)", ValueError),
    ],
)
def test_values_a_column_cannot_hold_are_refused(
    values: list[Any], column_type: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        arrow_table([values], ["c"], [column_type])


def test_values_the_native_writer_takes_are_taken() -> None:
    table = arrow_table(
        [[1, 2.5, None], [True, 1, 0], [None, "é", "e"], [[], ["a", "b"], ["c"]]],
        ["f", "b", "s", "a"],
        ["Nullable(Float64)", "Bool", "Nullable(String)", "Array(String)"],
    )
    assert table is not None
    assert table.column("f").to_pylist() == [1.0, 2.5, None]
    assert table.column("b").to_pylist() == [True, True, False]
    assert table.column("s").to_pylist() == [None, "é", "e"]
    assert table.column("a").to_pylist() == [[], ["a", "b"], ["c"]]


def test_a_column_of_another_type_makes_no_table() -> None:
    assert arrow_table([[1], ["a"]], ["i", "s"], ["Int64", "String"]) is None


class ArrowClient:
    """A client whose Arrow insert raises ``error``; its columns are Strings."""

    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.inserted: list[pa.Table] = []

    def insert_arrow(self, _table: str, arrow: pa.Table, **_kwargs: Any) -> None:
        if self.error is not None:
            raise self.error
        self.inserted.append(arrow)

    def query(self, *_args: Any, **_kwargs: Any) -> Any:
        return SimpleNamespace(column_names=("name", "type"), result_rows=[("c", "String")])

    def command(self, *_args: Any, **_kwargs: Any) -> int:
        return 1


def test_a_refusal_by_clickhouse_or_by_arrow_refuses_the_rows() -> None:
    client = ArrowClient(DatabaseError("refused", code=53))
    with pytest.raises(RowsRefused):
        Store(client, "db", 10).insert("t", [("a",)], ["c"], "token")  # type: ignore[arg-type]
    client = ArrowClient(None)
    with pytest.raises(RowsRefused):
        Store(client, "db", 10).insert("t", [(None,)], ["c"], "token")  # type: ignore[arg-type]
    Store(client, "db", 10).insert("t", [("a",), ("b",)], ["c"], "token")  # type: ignore[arg-type]
    assert client.inserted[0].column("c").to_pylist() == ["a", "b"]


# Run in a process of its own: chDB allows one engine per process, and the integration tests
# run theirs in pytest's. Each case is "table" or "table@label": rows of that table.
_SAME_AS_NATIVE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from eventline.core.settings import Settings
    from eventline.sinks import arrow, store
    from eventline.sinks.routes import COLUMNS

    cases = json.loads(sys.stdin.read())
    base = store.open_store(Settings(home=Path(sys.argv[1])), migrate=False)
    out = {}
    for way in ("arrow", "native"):
        db = base.sibling(way)
        db.migrate()
        if way == "arrow":
            types = [t for table in COLUMNS for t in db._column_types(table, COLUMNS[table])]
            out["no arrow type"] = sorted({t for t in types if arrow.arrow_type(t) is None})
        else:
            store.arrow_table = lambda *_args: None
        for case, table_rows in cases.items():
            table = case.split("@")[0]
            try:
                for _twice in range(2):
                    db.insert(table, [tuple(r) for r in table_rows], COLUMNS[table], case)
                stored = db.query(f"SELECT * FROM {{db}}.{table} ORDER BY ALL")
                out[f"{way}:{case}"] = repr(stored)
            except store.RowsRefused:
                out[f"{way}:{case}"] = "refused"
    print(json.dumps(out))
    """
)

_MS = 1_795_000_000_000


def _cases() -> dict[str, list[list[Any]]]:
    """Rows of each table, edges included: text beyond ASCII, times far from now, NaN, NULLs
    where they may be, empty arrays; and a row ClickHouse must refuse (NULL in a plain
    column)."""
    event = ["acme", "e1", "c1", "purchase", _MS, _MS, _MS + 5, '{"a":1}', 12.5, False, "api",
             None, "ada@example.com", None, "{}", None]  # fmt: skip
    edge = ["a\u00e9\u4e2d", "e2", "", "n", -62_000_000_000_000, 95_000_000_000_000, 0, "{}",
            float("nan"), True, "s", "k", None, "u", "{}", "type"]  # fmt: skip
    incoming = ["acme", "e1", "r1", "event", "received", None, "api", None, "a@b.c", None, None,
                "purchase", None, _MS, _MS * 1000, 11, "{}", None, False, "{}", 1, None, None,
                "k", "fail"]  # fmt: skip
    trigger = ["acme", "t1", "w1", "r1", "c1", None, None, ["vip"], [], "e1", "purchase", None,
               "{}", 3.0, _MS, "{}", _MS]  # fmt: skip
    return {
        "events": [event, edge],
        "events@refused": [[*event[:2], None, *event[3:]]],
        "incoming_events": [incoming],
        "contacts": [
            ["acme", "c1", None, "u1", "{}", _MS, _MS, "e1", ["vip", "é"]],
            ["acme", "c2", "x@example.com", None, "{}", _MS, _MS, "e2", []],
        ],
        "tag_changes": [["acme", "c1", "vip", "added", "r1", "e1", _MS, None, None]],
        "segment_transitions": [
            ["acme", "s1", "c1", 4_000_000_000, "entered", "event", None, _MS, "t", None, None]
        ],
        "workflow_triggers": [trigger],
    }


def test_arrow_inserts_store_what_native_inserts_store(tmp_path: Path) -> None:
    cases = _cases()
    done = subprocess.run(
        [sys.executable, "-c", _SAME_AS_NATIVE, str(tmp_path)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["no arrow type"] == []  # every column of our tables is written as Arrow
    for case in cases:
        assert out[f"arrow:{case}"] == out[f"native:{case}"], case
    assert out["arrow:events@refused"] == "refused"
    assert out["arrow:events"].count("'e1'") == 1  # a second insert of a token is a no-op
    assert "nan" in out["arrow:events"]
