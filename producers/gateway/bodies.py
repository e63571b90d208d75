"""Request bodies: JSON or form-data, decoded strictly (``eventline.producers.json_input``); a body
that cannot be decoded comes back with the problem, so each route answers it in its own shape and
can still record the rejected request."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl

import python_multipart
from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute

from eventline.producers import json_input
from eventline.producers.problems import InputRejected, Problem
from eventline.producers.validation import form_to_dict

RAW_KEPT = 65536  # characters of a refused body kept with its status, to show what came
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


@dataclass
class Body:
    """A decoded request body: the data, how it came (json/form), and its raw text."""

    data: Any
    source: str
    raw: str
    error: Problem | None = None
    # data is a document json_input decoded (dicts, lists, text, finite numbers, booleans,
    # null and nothing else): what eventline.producers.quick_event may take
    decoded_json: bool = False


async def read_body(request: Request) -> Body:
    """Decode JSON or form-data; an undecodable body is returned with its problem, not raised."""
    content_type = request.headers.get("content-type", "")
    content = await request.body()
    raw = content.decode("utf-8", "replace")[:RAW_KEPT]
    if content_type.startswith(FORM_TYPES):
        try:
            data = form_to_dict(form_fields(content_type, content))
        except InputRejected as exc:
            return Body(data=None, source="http:form", raw=raw, error=exc.problems[0])
        return Body(data=data, source="http:form", raw=json.dumps(data)[:RAW_KEPT])
    return json_body(content, raw)


def json_body(content: bytes, raw: str | None = None) -> Body:
    """A JSON body, decoded strictly; an undecodable one comes back with its problem."""
    if raw is None:
        raw = content.decode("utf-8", "replace")[:RAW_KEPT]
    try:
        data = json_input.decode(content)
        return Body(data=data, source="http:json", raw=raw, decoded_json=True)
    except InputRejected as exc:
        return Body(data=None, source="http:json", raw=raw, error=exc.problems[0])


def form_fields(content_type: str, content: bytes) -> dict[str, str]:
    """The text fields of a form (files are ignored), decoded as UTF-8 or refused: a wrong
    byte is never replaced with U+FFFD nor read as Latin-1."""
    fields: dict[str, str] = {}
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            text = content.decode("utf-8")
            pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
            fields.update(pairs)
        else:

            def on_field(field: python_multipart.multipart.Field) -> None:
                name, value = field.field_name or b"", field.value or b""
                fields[name.decode("utf-8")] = value.decode("utf-8")

            headers = {"Content-Type": content_type.encode("latin-1")}
            python_multipart.parse_form(headers, io.BytesIO(content), on_field, lambda _f: None)
    except UnicodeError as exc:
        reason = f"is not valid form data: invalid UTF-8 ({exc})"
        raise InputRejected([Problem(field="body", reason=reason)]) from None
    except (ValueError, python_multipart.exceptions.FormParserError) as exc:
        reason = f"is not valid form data: {exc}"
        raise InputRejected([Problem(field="body", reason=reason)]) from None
    return fields


BodyDep = Annotated[Body, Depends(read_body)]


class StrictRequest(Request):
    """A request whose ``json()`` decodes as strictly as ``read_body``: FastAPI's own body
    parsing (routes with a model body) then reports a bad body as ``json_invalid``, naming the
    problem, instead of a RecursionError or an unexplained 400."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = json_input.decode(await self.body())
            except InputRejected as exc:
                problem = exc.problems[0]
                message = f"{problem.field}: {problem.reason}"
                raise json.JSONDecodeError(message, "", 0) from None
        return self._json


class StrictRoute(APIRoute):
    """Every route of the gateway: its handler sees a ``StrictRequest``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictRequest(request.scope, request.receive))

        return strict
