"""docs/metrics.md stays true: every Prometheus metric the code defines is there, with its labels.

The metrics are read from the source (no module is imported, so no registry or app is built):
each ``Counter``/``Gauge``/``Histogram``/``Summary`` call with a literal name, and the pair of
gauges ``eventline.core.progress.gauges(prefix, ...)`` makes for each prefix it is called with.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("producers", "streams", "sinks", "eventline", "schemas")
KINDS = {"Counter", "Gauge", "Histogram", "Summary"}
DOC = ROOT / "docs" / "metrics.md"


def _prometheus_names(tree: ast.Module) -> set[str]:
    """The metric classes a module imports from prometheus_client (not collections.Counter)."""
    return {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "prometheus_client"
        for alias in node.names
        if alias.name in KINDS
    }


def _labels(call: ast.Call) -> list[str]:
    node = call.args[2] if len(call.args) > 2 else None
    for keyword in call.keywords:
        if keyword.arg == "labelnames":
            node = keyword.value
    if isinstance(node, ast.List | ast.Tuple):
        return [str(e.value) for e in node.elts if isinstance(e, ast.Constant)]
    return []


def defined_metrics() -> dict[str, list[str]]:
    """Metric name -> label names, for every metric defined under the packages."""
    found: dict[str, list[str]] = {}
    templated: list[tuple[str, list[str]]] = []  # (suffix after the prefix, labels)
    prefixes: list[str] = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            kinds = _prometheus_names(tree)
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                    continue
                kind = node.func.id
                first = node.args[0] if node.args else None
                if kind == "gauges" and isinstance(first, ast.Constant):
                    prefixes.append(str(first.value))
                elif kind in kinds and isinstance(first, ast.Constant):
                    found[str(first.value)] = _labels(node)
                elif kind in kinds and isinstance(first, ast.JoinedStr):
                    # f"{prefix}_partition_lag": only eventline.core.progress.gauges builds names so
                    tail = first.values[-1]
                    assert path.name == "progress.py" and isinstance(tail, ast.Constant), (
                        f"{path}: a metric whose name this test cannot read; teach it the name"
                    )
                    templated.append((str(tail.value), _labels(node)))
                elif kind in kinds:
                    raise AssertionError(f"{path}:{node.lineno}: a metric name not read here")
    for prefix in prefixes:
        for suffix, labels in templated:
            found[prefix + suffix] = labels
    return found


def test_the_scan_finds_the_metrics() -> None:
    metrics = defined_metrics()
    assert "eventline_gateway_accepted_total" in metrics
    assert metrics["eventline_worker_partition_lag"] == ["topic", "partition"]
    assert "eventline_sink_partition_stalled_seconds" in metrics


def test_every_metric_is_documented_with_its_labels() -> None:
    rows = {
        match.group(1): line
        for line in DOC.read_text().splitlines()
        if (match := re.match(r"\| `(eventline_\w+)` \|", line))
    }
    missing = sorted(set(defined_metrics()) - set(rows))
    assert not missing, f"docs/metrics.md does not document {missing}"
    for name, labels in defined_metrics().items():
        for label in labels:
            assert f"`{label}`" in rows[name], f"docs/metrics.md: {name} lacks its label {label}"


def test_every_documented_metric_exists() -> None:
    documented = set(re.findall(r"^\| `(eventline_\w+)` \|", DOC.read_text(), re.MULTILINE))
    gone = sorted(documented - set(defined_metrics()))
    assert not gone, f"docs/metrics.md documents metrics the code no longer defines: {gone}"
