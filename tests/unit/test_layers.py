"""The house (issue 13): imports run one way down, and every module is named under eventline.

The layers are a contract in pyproject.toml ([tool.importlinter]), checked by ``make lint``;
this test runs the same check in every test run, so a CI run catches an upward import too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The roles' folders, also importable from the repository's root under their bare names: a
# module imported as both `producers.x` and `eventline.producers.x` would run twice, with two
# copies of its state.
BARE = {"producers", "streams", "schemas", "sinks"}


def test_the_layers_contract_is_kept() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_module_imports_a_role_by_its_bare_folder_name() -> None:
    found = []
    for folder in ("eventline", "producers", "streams", "schemas", "sinks", "tests", "bench",
                   "examples"):  # fmt: skip
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                found += [
                    f"{path.relative_to(ROOT)}:{node.lineno}: {name}"
                    for name in names
                    if name.split(".")[0] in BARE
                ]
    assert not found, "import these as eventline.<role>: " + ", ".join(found)
