"""Why an input is refused: one problem per field, with the HTTP status it calls for."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

BAD_REQUEST = 400
TOO_LARGE = 413


class Problem(BaseModel):
    """One reason an input is refused: which field, and what is wrong with it."""

    field: str
    reason: str
    # 413 when the field is past a size bound (a retry will never pass), else 400; not part
    # of any answer's body, only of its status.
    status: int = Field(default=BAD_REQUEST, exclude=True)


class InputRejected(Exception):
    """The input cannot be accepted; ``problems`` says why, field by field."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.reason}" for p in problems))
        self.problems = problems


def prefixed(problems: Iterable[Problem], prefix: str) -> list[Problem]:
    """The same problems with their fields placed under ``prefix`` (``events[2].``)."""
    return [p.model_copy(update={"field": prefix + p.field}) for p in problems]


def status_of(problems: Iterable[Problem]) -> int:
    """413 when any problem is a size bound, else 400."""
    return TOO_LARGE if any(p.status == TOO_LARGE for p in problems) else BAD_REQUEST
