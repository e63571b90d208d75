"""The benchmark's table: each eventline figure beside its anchor, the ratio, the target."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """What a figure must reach: at least / at most an absolute value, at least a ratio of
    its anchor, or equal to its anchor (kill phase: acked vs stored)."""

    at_least: float | None = None
    at_most: float | None = None
    min_ratio: float | None = None
    max_ratio: float | None = None
    equal: bool = False

    def text(self, unit: str) -> str:
        parts = []
        if self.at_least is not None:
            parts.append(f">= {_num(self.at_least)} {unit}")
        if self.at_most is not None:
            parts.append(f"<= {_num(self.at_most)} {unit}")
        if self.min_ratio is not None:
            parts.append(f">= {self.min_ratio:g}x anchor")
        if self.max_ratio is not None:
            parts.append(f"<= {self.max_ratio:g}x anchor")
        if self.equal:
            parts.append("= anchor")
        return " and ".join(parts) or "-"

    def met(self, value: float, anchor: float | None) -> bool | None:
        checks = []
        if self.at_least is not None:
            checks.append(value >= self.at_least)
        if self.at_most is not None:
            checks.append(value <= self.at_most)
        if self.min_ratio is not None and anchor:
            checks.append(value / anchor >= self.min_ratio)
        if self.max_ratio is not None and anchor:
            checks.append(value / anchor <= self.max_ratio)
        if self.equal and anchor is not None:
            checks.append(value == anchor)
        return all(checks) if checks else None


@dataclass(frozen=True)
class Row:
    figure: str
    value: float | None
    unit: str
    anchor: float | None = None
    anchor_name: str = ""
    target: Target = Target()

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.anchor:
            return None
        return self.value / self.anchor

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "MISS (not measured)"
        met = self.target.met(self.value, self.anchor)
        return "" if met is None else "PASS" if met else "MISS"


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table (bench/README.md takes it as it is)."""
    lines = [
        "| figure | eventline | anchor | ratio | target | |",
        "| --- | ---: | --- | ---: | --- | --- |",
    ]
    for row in rows:
        anchor = f"{_num(row.anchor)} ({row.anchor_name})" if row.anchor_name else "-"
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "-"
        value = f"{_num(row.value)} {row.unit}" if row.value is not None else "-"
        lines.append(
            f"| {row.figure} | {value} | {anchor} | {ratio} | {row.target.text(row.unit)} "
            f"| {row.verdict} |"
        )
    return "\n".join(lines)
