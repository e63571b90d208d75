"""Rules as data: the shapes that the rules API accepts and the rules topic carries."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Operator = Literal["equals", "in", "contains", "gt", "gte", "lt", "lte", "exists"]


class PropertyCondition(BaseModel):
    """A test on one event property; ``property`` may be a dotted path (``item.sku``)."""

    model_config = ConfigDict(extra="forbid")

    property: str = Field(min_length=1, max_length=200)
    op: Operator
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_the_operator(self) -> PropertyCondition:
        if self.op == "in" and not isinstance(self.value, list):
            raise ValueError("'in' needs a list value")
        if self.op in ("gt", "gte", "lt", "lte") and as_number(self.value) is None:
            raise ValueError(f"'{self.op}' needs a numeric value")
        if self.op not in ("exists", "in") and self.value is None:
            raise ValueError(f"'{self.op}' needs a value")
        return self


class EventMatch(BaseModel):
    """Which events a rule is about: by name and/or type, and property conditions (all)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    event_type: str | None = None
    where: list[PropertyCondition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names_something(self) -> EventMatch:
        if self.name is None and self.event_type is None:
            raise ValueError("a rule matches events by name or event_type")
        return self


class TagRule(BaseModel):
    """When an event matches, add and/or remove tags on its contact."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["tag"] = "tag"
    rule_id: str = Field(min_length=1, max_length=128)
    account_id: str
    when: EventMatch
    add: list[str] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _changes_something(self) -> TagRule:
        if not self.add and not self.remove:
            raise ValueError("a tag rule adds or removes at least one tag")
        return self


def as_number(value: Any) -> float | None:
    """A number, or a numeric string as its number; None for anything else (booleans too)."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class WorkflowRule(BaseModel):
    """When an event matches, trigger a workflow for its contact: every time, once per
    contact, or at most once per period."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["workflow"] = "workflow"
    rule_id: str = Field(min_length=1, max_length=128)
    account_id: str
    workflow_id: str = Field(min_length=1, max_length=128)
    when: EventMatch
    once_per_contact: bool = False
    at_most_every_s: int | None = Field(default=None, gt=0)
