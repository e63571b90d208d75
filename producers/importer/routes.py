"""Where an import's lines go, and how each route's answer tells what became of each line.

- ``native``: a JSON array to ``POST /v1/events``; its answer has a result per event.
- ``mailerpath``: MailerPath events as ``{"events": [...]}`` to ``POST
  /api/v1/client/events/bulk``; its answer has a result per event, as the native one.
- ``segment``: Segment calls (a Segment export: one call per line) as ``{"batch": [...]}``
  to ``POST /v1/batch`` with ``X-Eventline-Backfill: true``; its answer is Segment's (200, or
  400 naming ``batch[i].<field>`` for each refused call, the others recorded).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

import orjson

Outcome = tuple[str, list[tuple[str, str]]]  # (received|duplicate|rejected, [(field, reason)])
Dialect = Literal["native", "mailerpath", "segment"]
DIALECTS: tuple[Dialect, ...] = ("native", "mailerpath", "segment")


class Route:
    """One gateway route an import posts batches to."""

    path: ClassVar[str]
    headers: ClassVar[dict[str, str]]
    largest_batch: ClassVar[int]

    def body(self, items: list[dict[str, Any]]) -> bytes:
        raise NotImplementedError

    def outcomes(self, status: int, answer: Any, count: int) -> list[Outcome] | None:
        """One outcome per item, in order; None when the answer is not about the items (a
        request refused whole)."""
        raise NotImplementedError

    def duplicates_if_all_accepted(self, status: int, answer: Any, count: int) -> int | None:
        """When the answer accepts every item: how many of them were duplicates (the
        common answer, told without an outcome per item); else None."""
        return None


class Native(Route):
    path = "/v1/events"
    headers: ClassVar[dict[str, str]] = {}
    largest_batch = 1000

    def body(self, items: list[dict[str, Any]]) -> bytes:
        return orjson.dumps(items)

    def duplicates_if_all_accepted(self, status: int, answer: Any, count: int) -> int | None:
        if (
            status != 202
            or not isinstance(answer, dict)
            or answer.get("accepted") != count
            or answer.get("rejected") != 0
            or not isinstance(answer.get("results"), list)
        ):
            return None
        return sum(1 for result in answer["results"] if result.get("status") == "duplicate")

    def outcomes(self, status: int, answer: Any, count: int) -> list[Outcome] | None:
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list) or len(results) != count:
            return None
        return [_native(result) for result in results]


class MailerPath(Native):
    path = "/api/v1/client/events/bulk"

    def body(self, items: list[dict[str, Any]]) -> bytes:
        return orjson.dumps({"events": items})


def _native(result: dict[str, Any]) -> Outcome:
    status = str(result.get("status"))
    if status in ("received", "duplicate"):
        return status, []
    errors = result.get("errors") or [{"field": "", "reason": status}]
    return "rejected", [
        (str(e.get("field", "")).split("].", 1)[-1], str(e.get("reason", ""))) for e in errors
    ]


_AT = re.compile(r"batch\[(\d+)\]\.?(.*)")


class Segment(Route):
    path = "/v1/batch"
    headers: ClassVar[dict[str, str]] = {"x-eventline-backfill": "true"}
    largest_batch = 100  # Segment's 500 KB a batch holds 100 calls of up to 5 KB

    def body(self, items: list[dict[str, Any]]) -> bytes:
        return orjson.dumps({"batch": items})

    def duplicates_if_all_accepted(self, status: int, answer: Any, count: int) -> int | None:
        return 0 if status == 200 else None  # Segment's answer names no duplicates

    def outcomes(self, status: int, answer: Any, count: int) -> list[Outcome] | None:
        if status == 200:
            return [("received", [])] * count
        errors = answer.get("errors") if isinstance(answer, dict) else None
        if not isinstance(errors, list):
            return None
        found: list[Outcome] = [("received", [])] * count
        for error in errors:
            at = _AT.fullmatch(str(error.get("field", "")))
            if at is None or int(at.group(1)) >= count:
                return None  # about the request, not one call
            index = int(at.group(1))
            problems = [*found[index][1], (at.group(2), str(error.get("reason", "")))]
            found[index] = ("rejected", problems)
        return found


def route_of(dialect: Dialect) -> Route:
    """The route for lines in ``dialect``'s shape."""
    routes: dict[str, type[Route]] = {"segment": Segment, "mailerpath": MailerPath}
    return routes.get(dialect, Native)()
