"""Refusals made before a route runs (a body too large or too slow, a request FastAPI could
not validate), in the error shape of the API the path belongs to."""

from __future__ import annotations

import re
from typing import Any

from fastapi.responses import JSONResponse

from producers.dialects import activecampaign as ac
from producers.dialects import mailchimp
from producers.problems import Problem

SEGMENT_PATHS = frozenset({"/v1/track", "/v1/identify", "/v1/batch"})
EMMA_PATH = re.compile(r"^/\d+/events(/|$)")
NATIVE_CODES = {408: "body_timeout", 413: "body_too_large"}
MAILCHIMP_TITLES = {408: "Request Timeout", 413: "Request Too Large"}


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
        return {"success": False, "message": text, "errors": errors}
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


def refusal(path: str, status: int, problems: list[Problem]) -> JSONResponse:
    headers = {"Connection": "close"} if status in (408, 413) else None
    return JSONResponse(refusal_body(path, status, problems), status_code=status, headers=headers)
