"""Rules as data: the shapes that the rules API accepts and the rules topic carries.

Three kinds, each per account and named by a ``rule_id``:
- ``tag``: when an event matches, add and/or remove tags on its contact;
- ``segment``: a membership condition over the contact's history, attributes and tags
  (the rule id is the segment id);
- ``workflow``: when an event matches (and optionally the contact meets a condition), trigger
  a workflow: every time, once per contact, or at most once per period.

Conditions (``Condition``, a union discriminated by ``kind``) combine with ``all``/``any``;
``eventline.streams.rules.segments`` evaluates them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)

Operator = Literal["equals", "in", "contains", "gt", "gte", "lt", "lte", "exists"]
MAX_PERIOD_S = 10 * 365 * 86400
RULE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
TAG_PATTERN = r"^\S(.{0,98}\S)?$"
Tag = Annotated[str, Field(pattern=TAG_PATTERN, max_length=100)]


def as_number(value: Any) -> float | None:
    """A number, or a numeric string as its number; None for anything else (booleans too)."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PropertyCondition(_Strict):
    """A test on one event property; ``property`` may be a dotted path (``item.sku``)."""

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


class EventMatch(_Strict):
    """Which events a rule is about: by name and/or type, and property conditions (all)."""

    name: str | None = None
    event_type: str | None = None
    where: list[PropertyCondition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names_something(self) -> EventMatch:
        if self.name is None and self.event_type is None:
            raise ValueError("a rule matches events by name or event_type")
        return self


# --- conditions on a contact ---------------------------------------------------------------


class Did(_Strict):
    """Did ``name`` at least ``min_count`` times: ever, in the last ``within_days``, or between
    two instants; optionally only events whose properties meet ``where``."""

    kind: Literal["did"] = "did"
    name: str
    where: list[PropertyCondition] = Field(default_factory=list)
    within_days: float | None = Field(default=None, gt=0)
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    min_count: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _one_window(self) -> Did:
        if self.within_days is not None and (self.since or self.until):
            raise ValueError("give within_days or since/until, not both")
        if self.since and self.until and self.since > self.until:
            raise ValueError("since is after until")
        return self


class DidNot(_Strict):
    """Did not do ``name`` in the last ``within_days`` (inactivity)."""

    kind: Literal["did_not"] = "did_not"
    name: str
    within_days: float = Field(gt=0)


class ValueSum(_Strict):
    """The sum of ``value`` of ``name`` events (any name when unset) in the last
    ``within_days`` compares to ``amount``."""

    kind: Literal["value_sum"] = "value_sum"
    name: str | None = None
    within_days: float = Field(gt=0)
    op: Literal["gt", "gte", "lt", "lte"]
    amount: float


class ThenNot(_Strict):
    """Did ``first`` and then not ``then`` within ``within_s`` (abandoned cart)."""

    kind: Literal["then_not"] = "then_not"
    first: str
    then: str
    within_s: int = Field(gt=0)


class Attribute(_Strict):
    """A test on the contact's attributes (``property`` names the attribute)."""

    kind: Literal["attribute"] = "attribute"
    test: PropertyCondition


class HasTag(_Strict):
    """The contact has (or, with ``present: false``, lacks) a tag."""

    kind: Literal["tag"] = "tag"
    tag: str
    present: bool = True


class InSegment(_Strict):
    """The contact is (or, with ``member: false``, is not) in a segment. Workflow rules only:
    segments are not defined in terms of each other."""

    kind: Literal["segment"] = "segment"
    segment_id: str
    member: bool = True


class AllOf(_Strict):
    kind: Literal["all"] = "all"
    conditions: list[Condition] = Field(min_length=1)


class AnyOf(_Strict):
    kind: Literal["any"] = "any"
    conditions: list[Condition] = Field(min_length=1)


Condition = Annotated[
    Union[Did, DidNot, ValueSum, ThenNot, Attribute, HasTag, InSegment, AllOf, AnyOf],  # noqa: UP007
    Field(discriminator="kind"),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()


def walk(condition: Condition) -> Iterator[Condition]:
    """The condition and every condition nested in it."""
    yield condition
    if isinstance(condition, (AllOf, AnyOf)):
        for inner in condition.conditions:
            yield from walk(inner)


def longest_window_days(condition: Condition) -> float:
    """How many days of history the condition looks back over (0 for none)."""
    days = [0.0]
    for c in walk(condition):
        if isinstance(c, (Did, DidNot, ValueSum)) and c.within_days is not None:
            days.append(c.within_days)
        if isinstance(c, ThenNot):
            days.append(c.within_s / 86400)
    return max(days)


# --- rules -------------------------------------------------------------------------------


class _Rule(_Strict):
    rule_id: str = Field(pattern=RULE_ID_PATTERN)
    account_id: str
    description: str = Field(default="", max_length=500)


class TagRule(_Rule):
    """When an event matches, add and/or remove tags on its contact."""

    kind: Literal["tag"] = "tag"
    when: EventMatch
    remove: list[Tag] = Field(default_factory=list)
    add: list[Tag] = Field(default_factory=list, validate_default=True)

    @field_validator("add")
    @classmethod
    def _changes_something(cls, add: list[str], info: ValidationInfo) -> list[str]:
        if not add and not info.data.get("remove"):
            raise ValueError("a tag rule adds or removes at least one tag")
        both = set(add) & set(info.data.get("remove") or [])
        if both:
            raise ValueError(f"added and removed at once: {', '.join(sorted(both))}")
        return add


class SegmentRule(_Rule):
    """A segment: the contacts that meet ``condition``. The rule id is the segment id."""

    kind: Literal["segment"] = "segment"
    name: str = Field(default="", max_length=200)
    condition: Condition

    @field_validator("condition")
    @classmethod
    def _no_segments_of_segments(cls, condition: Condition) -> Condition:
        if any(isinstance(c, InSegment) for c in walk(condition)):
            raise ValueError("a segment cannot be defined by membership of segments")
        return condition


class WorkflowRule(_Rule):
    """When an event matches, trigger a workflow for its contact: every time, once per
    contact, or at most once per period; optionally only when the contact (after the event)
    meets ``contact``: tags, attributes, segments, history."""

    kind: Literal["workflow"] = "workflow"
    workflow_id: str = Field(min_length=1, max_length=128)
    when: EventMatch
    contact: Condition | None = None
    once_per_contact: bool = False
    at_most_every_s: int | None = Field(default=None, gt=0, le=MAX_PERIOD_S)


Rule = Annotated[Union[TagRule, SegmentRule, WorkflowRule], Field(discriminator="kind")]  # noqa: UP007
RULE = TypeAdapter(Rule)
KINDS = ("tag", "segment", "workflow")


def parse_rule(definition: dict[str, Any], account_id: str, rule_id: str) -> Rule:
    """The rule a definition describes, for ``account_id`` under ``rule_id`` (both taken from
    the request, never the body). Raises pydantic's ValidationError naming each field."""
    fields = {k: v for k, v in definition.items() if k not in ("account_id", "rule_id")}
    return RULE.validate_python({**fields, "account_id": account_id, "rule_id": rule_id})


def definition_of(rule: Rule) -> dict[str, Any]:
    """The rule as stored and shown: its own fields, without account and id."""
    return rule.model_dump(mode="json", exclude={"account_id", "rule_id"}, exclude_none=True)
