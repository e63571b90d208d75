"""The README and docs/ name only what exists: file paths, dotted module names and their
attributes, and EVENTLINE_* variables (a rename in the code makes this test name the page)."""

from __future__ import annotations

import re
from pathlib import Path

from eventline.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PACKAGES = ("producers", "streams", "sinks", "eventline", "schemas")
# not after a dot: ".eventline/worker.log" is state under the home folder, not source
PATH = re.compile(
    r"(?<![.\w/])((?:producers|streams|sinks|eventline|schemas|tests|examples|bench)/[\w/.\-]*)"
)
# every module is imported as eventline.<...>: a bare `producers.x` is a stale name
DOTTED = re.compile(r"`((?:producers|streams|sinks|eventline|schemas)(?:\.\w+)+)")
VARIABLE = re.compile(r"\bEVENTLINE_[A-Z0-9_]*[A-Z0-9]\b")


def _sources() -> str:
    """The Python and build files of the repository, as one text to search."""
    files = [p for folder in (*PACKAGES, "tests", "bench") for p in (ROOT / folder).rglob("*.py")]
    files += [ROOT / "Makefile", ROOT / "pyproject.toml", ROOT / "docker-compose.yml"]
    return "\n".join(p.read_text() for p in files if p.is_file())


def _resolves(dotted: str) -> bool:
    """``a.b.c``: the longest module prefix exists and defines the rest (by name)."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:end])
        module = (
            base.with_suffix(".py") if base.with_suffix(".py").exists() else base / "__init__.py"
        )
        if module.exists():
            text = module.read_text()
            return all(re.search(rf"\b{re.escape(name)}\b", text) for name in parts[end:])
    return False


def _clickhouse_table(name: str) -> bool:
    """``eventline.events``: the ClickHouse database's table, where no module has that name."""
    parts = name.split(".")
    return len(parts) == 2 and parts[0] == "eventline" and not _resolves(name)


def test_named_paths_exist() -> None:
    stale = [
        f"{page.name}: {path}"
        for page in PAGES
        for path in PATH.findall(page.read_text())
        if not (ROOT / path.rstrip(".")).exists()
    ]
    assert not stale, f"paths that do not exist: {stale}"


def test_named_modules_and_attributes_exist() -> None:
    stale = [
        f"{page.name}: {name}"
        for page in PAGES
        for name in DOTTED.findall(page.read_text())
        if not name.startswith("eventline.")
        or (not _resolves(name) and not _clickhouse_table(name))
    ]
    assert not stale, f"module names that do not resolve: {stale}"


def test_named_variables_exist() -> None:
    settings = {f"EVENTLINE_{field.upper()}" for field in Settings.model_fields}
    sources = _sources()  # variables read outside the settings (tests, fuzzing)
    stale = sorted(
        {
            f"{page.name}: {name}"
            for page in PAGES
            for name in VARIABLE.findall(page.read_text())
            if name not in settings and name not in sources
        }
    )
    assert not stale, f"EVENTLINE_* variables the code does not read: {stale}"
