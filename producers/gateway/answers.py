"""Refusals made before a route runs (a body too large or too slow, a request FastAPI could
not validate), in the error shape of the API the path belongs to."""

from __future__ import annotations

import re
from typing import Any, Literal

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from eventline.core.errors import InvalidEvent, TransientError
from eventline.producers.dialects import activecampaign as ac
from eventline.producers.dialects import mailchimp, segment
from eventline.producers.problems import Problem

SEGMENT_PATHS = frozenset(
    {"/v1/track", "/v1/identify", "/v1/page", "/v1/screen", "/v1/group", "/v1/alias", "/v1/batch"}
)
EMMA_PATH = re.compile(r"^/\d+/events(/|$)")
NATIVE_CODES = {408: "body_timeout", 413: "body_too_large", 415: "unsupported_encoding"}
MAILCHIMP_TITLES = {408: "Request Timeout", 413: "Request Too Large", 415: "Unsupported Media Type"}


def api_of(path: str) -> str:
    """Which API a path belongs to: segment, mailchimp, emma, activecampaign (``/event``),
    activecampaign_v3 (``/api/3``), else native (MailerPath answers as the native API)."""
    if path in SEGMENT_PATHS:
        return "segment"
    if path.startswith("/3.0/"):
        return "mailchimp"
    if EMMA_PATH.match(path):
        return "emma"
    if path == "/event":
        return "activecampaign"
    if path.startswith("/api/3/"):
        return "activecampaign_v3"
    return "native"


def refusal_body(path: str, status: int, problems: list[Problem]) -> dict[str, Any]:
    """The body of a refusal in the shape of the path's API."""
    text = "; ".join(f"{p.field}: {p.reason}" for p in problems)
    errors = [p.model_dump() for p in problems]
    api = api_of(path)
    if api == "segment":
        code = segment.code(status)
        return {"success": False, "code": code, "message": text, "errors": errors}
    if api == "mailchimp":
        title = MAILCHIMP_TITLES.get(status, "Invalid Resource")
        return mailchimp.problem(status, title, text, problems)
    if api == "emma":
        return {"error": text, "errors": errors}
    if api == "activecampaign":
        return ac.failure(text)
    if api == "activecampaign_v3":
        return {"message": text, "errors": [_ac_error(p) for p in problems]}
    first = problems[0]
    code = NATIVE_CODES.get(status, "invalid_request")
    return {"error": code, "field": first.field, "reason": first.reason, "errors": errors}


def _ac_error(problem: Problem) -> dict[str, Any]:
    """One error as ActiveCampaign's v3 API lists it."""
    pointer = "/" + problem.field.replace(".", "/")
    return {
        "title": problem.reason,
        "detail": "",
        "code": "invalid",
        "source": {"pointer": pointer},
    }


def validation_problems(exc: RequestValidationError) -> list[Problem]:
    """FastAPI's validation errors as problems: the field without its location
    (``query.count`` is ``count``), a body that is not JSON with the reason."""
    problems = []
    for error in exc.errors():
        where = [str(part) for part in error.get("loc", ())[1:] if not isinstance(part, int)]
        reason = str(error.get("msg", "is invalid"))
        if error.get("type") == "json_invalid":
            reason = str((error.get("ctx") or {}).get("error") or reason)
        problems.append(Problem(field=".".join(where) or "body", reason=reason))
    return problems or [Problem(field="body", reason="is invalid")]


def refusal(path: str, status: int, problems: list[Problem]) -> JSONResponse:
    # the body was not read (or not whole): the connection cannot carry another request
    headers = {"Connection": "close"} if status in (408, 413, 415) else None
    return JSONResponse(refusal_body(path, status, problems), status_code=status, headers=headers)


def too_large_for_kafka(path: str, exc: InvalidEvent) -> JSONResponse:
    """Kafka refused a record as too large: past every bound we check, but never a 503 that
    well-behaved clients would retry forever."""
    problem = Problem(field=exc.field, reason=exc.reason, status=413)
    return refusal(path, 413, [problem])


def unavailable(exc: TransientError) -> JSONResponse:
    """Kafka (or ClickHouse) did not answer in time: 503, retry with the same key."""
    return JSONResponse(
        status_code=503,
        content={
            "error": "unavailable",
            "reason": str(exc),
            "retry": "safe with the same idempotency_key",
        },
        headers={"Retry-After": "1"},
    )


# --- The error shapes, as the OpenAPI document declares them -------------------------------


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow")


class FieldError(BaseModel):
    field: str
    reason: str


class NativeError(_Shape):
    """The native API's refusals: ``error`` (a code), the field and reason or ``errors``."""

    error: str
    field: str | None = None
    reason: str | None = None
    errors: list[FieldError] | None = None


class BulkResults(_Shape):
    """A bulk request with no event accepted: a result per event."""

    accepted: int
    rejected: int
    results: list[dict[str, Any]]


class Detail(_Shape):
    """FastAPI's own answers (an unknown path, a missing resource, a refused key)."""

    detail: Any


class SegmentError(_Shape):
    success: Literal[False]
    code: str
    message: str
    errors: list[FieldError] | None = None


class MailchimpError(_Shape):
    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[dict[str, str]] | None = None


class EmmaError(_Shape):
    error: str
    errors: list[FieldError] | None = None


class ActiveCampaignError(_Shape):
    """``/event``'s ``{"success": 0, "message"}``, or the v3 API's ``message``/``errors``."""

    success: int | None = None
    message: str | None = None
    errors: list[dict[str, Any]] | None = None


SHAPES: dict[str, Any] = {
    "native": NativeError | BulkResults | Detail,
    "segment": SegmentError | Detail,
    "mailchimp": MailchimpError | Detail,
    "emma": EmmaError | Detail,
    "activecampaign": ActiveCampaignError | Detail,
}
STATUSES = {
    400: "Refused: the fields and reasons.",
    401: "No valid API key.",
    403: "The key may not do this.",
    404: "Not found.",
    408: "The body was not received in time (EVENTLINE_BODY_TIMEOUT_S).",
    409: "Conflicts with the current state.",
    413: "Too large: the body (its route's limit, inflated), or an event past a size bound.",
    415: "A Content-Encoding other than gzip or identity.",
}


def error_responses(api: str, *extra: int) -> dict[int | str, dict[str, Any]]:
    """The 4xx answers of an API's routes, with their shape, for ``APIRouter(responses=)``."""
    codes = sorted({*STATUSES, *extra})
    return {
        code: {"model": SHAPES[api], "description": STATUSES.get(code, "Invalid request.")}
        for code in codes
    }
