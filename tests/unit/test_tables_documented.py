"""docs/tables.md stays true: every ClickHouse table, column and view of sinks/migrations/
(and the sink's own schema_migrations) is described there, each table with its source."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "tables.md"
MIGRATIONS = ROOT / "sinks" / "migrations"
COLUMN = re.compile(r"^\s+([a-z_]+)\s+[A-Z]", re.MULTILINE)  # "    name   Type..." in a CREATE


def schema() -> tuple[dict[str, set[str]], set[str]]:
    """Table -> its columns, and the views, as the migrations create them."""
    store = (ROOT / "sinks" / "store.py").read_text()
    bookkeeping = re.search(r'schema_migrations "\s*"\((.*?)\) "', store)
    assert bookkeeping, "sinks/store.py: schema_migrations' columns not found"
    tables = {"schema_migrations": set(re.findall(r"(\w+) [A-Z]", bookkeeping.group(1)))}
    views: set[str] = set()
    for path in sorted(MIGRATIONS.glob("*.sql")):
        sql = path.read_text()
        for name, body in re.findall(
            r"CREATE TABLE IF NOT EXISTS \{db\}\.(\w+)\s*\((.*?)\n\)", sql, re.S
        ):
            tables[name] = set(COLUMN.findall(body))  # INDEX lines start in capitals
        for name, body in re.findall(r"ALTER TABLE \{db\}\.(\w+)(.*?);", sql, re.S):
            tables[name] |= set(re.findall(r"ADD COLUMN IF NOT EXISTS (\w+)", body))
        views |= set(re.findall(r"CREATE OR REPLACE VIEW \{db\}\.(\w+)", sql))
    return tables, views


def sections() -> dict[str, str]:
    """The text describing each table: its '## `name`' section or '- `name`' bullet."""
    out: dict[str, str] = {}
    for block in re.split(r"\n(?=## |- `)", DOC.read_text()):
        if match := re.match(r"(?:## |- )`(\w+)`", block):
            out[match.group(1)] = block
    return out


def test_the_migrations_are_read() -> None:
    tables, views = schema()
    assert {"events", "incoming_events", "contacts", "tag_changes"} <= set(tables)
    assert {"route_key", "unknown_contact", "event_type"} <= tables["incoming_events"]
    assert "merged_into" in tables["contacts"] and "segment_members" in views
    assert tables["schema_migrations"] == {"version", "name", "applied_at"}


def test_every_table_and_column_is_described() -> None:
    tables, views = schema()
    described = sections()
    assert not views - set(described), f"docs/tables.md lacks views {views - set(described)}"
    for table, columns in tables.items():
        assert table in described, f"docs/tables.md has no section for table {table}"
        missing = sorted(c for c in columns if f"`{c}`" not in described[table])
        assert not missing, f"docs/tables.md: {table} does not describe {missing}"


def test_every_table_and_view_has_its_source() -> None:
    tables, views = schema()
    doc = DOC.read_text()
    origin = doc[doc.index("## Where each table comes from") :].split("\n## ", 2)[0]
    for name in [*tables, *views]:
        assert re.search(rf"^\| (view )?`{name}` \|", origin, re.M), (
            f"docs/tables.md: 'Where each table comes from' does not say what feeds {name}"
        )
