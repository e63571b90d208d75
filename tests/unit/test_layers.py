"""The house (issue 13): imports run one way down, and every module is named under eventline.

The layers are a contract in pyproject.toml ([tool.importlinter]), checked by ``make lint``;
this test runs the same check in every test run, so a CI run catches an upward import too.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The roles' folders, also importable from the repository's root under their bare names: a
# module imported as both `producers.x` and `eventline.producers.x` would run twice, with two
# copies of its state.
BARE = {"producers", "streams", "schemas", "sinks"}
BARE_DOTTED = re.compile(r"(?:producers|streams|schemas|sinks)(?:\.\w+)+")
PACKAGE_CALLS = {"files", "import_module", "find_spec"}


def test_the_layers_contract_is_kept() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _modules() -> list[tuple[Path, ast.Module]]:
    folders = (
        "eventline",
        "producers",
        "streams",
        "schemas",
        "sinks",
        "tests",
        "bench",
        "examples",
    )
    return [
        (path, ast.parse(path.read_text(), str(path)))
        for folder in folders
        for path in sorted((ROOT / folder).rglob("*.py"))
    ]


def _called(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def test_no_module_names_a_role_by_its_bare_folder_name() -> None:
    found = []
    for path, tree in _modules():
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                # `-m` targets, monkeypatch targets (a bare word is a folder's name)
                names = [node.value] if BARE_DOTTED.fullmatch(node.value) else []
            elif isinstance(node, ast.Call) and _called(node) in PACKAGE_CALLS and node.args:
                first = node.args[0]  # resources.files("sinks"), import_module("streams")
                is_text = isinstance(first, ast.Constant) and isinstance(first.value, str)
                names = [first.value] if is_text else []
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno}: {name}"
                for name in names
                if name.split(".")[0] in BARE
            ]
    assert not found, "name these eventline.<role>: " + ", ".join(found)


def test_the_floors_do_not_import_the_root_package() -> None:
    """import-linter does not see an import of the root package itself (``from eventline
    import x``): only the roof may use it."""
    roof = ("eventline/__main__.py", "eventline/cli/", "eventline/processes/", "tests/", "bench/")
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path, tree in _modules()
        if not str(path.relative_to(ROOT)).startswith(roof)
        for node in ast.walk(tree)
        if (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "eventline")
        or (isinstance(node, ast.Import) and any(a.name == "eventline" for a in node.names))
    ]
    assert not found, "import what you need from its floor, not from eventline: " + ", ".join(found)
