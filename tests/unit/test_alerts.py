"""docs/alerts.yml is valid and names only metrics eventline exports."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import eventline.sinks.sink
import eventline.streams.agents  # noqa: F401 (registers the worker's metrics)

ALERTS = Path(__file__).resolve().parents[2] / "docs" / "alerts.yml"


def _exported() -> set[str]:
    names = set()
    for metric in REGISTRY.collect():
        names.add(metric.name)
        if metric.type == "counter":
            names.add(f"{metric.name}_total")  # a labelled counter has no sample until used
    return names


def test_every_alert_uses_metrics_that_exist() -> None:
    rules = [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
    assert rules
    exported = _exported()
    for rule in rules:
        assert rule["alert"].startswith("Eventline") and rule["annotations"]["summary"]
        used = set(re.findall(r"eventline_[a-z_]+", rule["expr"]))
        assert used and used <= exported, used - exported
