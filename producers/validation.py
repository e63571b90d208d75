"""Validation of the native API's input (JSON or form-data) into incoming records. Pure logic."""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

import email_validator
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
)
from pydantic.networks import validate_email

from eventline.producers import json_input
from eventline.producers.ids import random_uuid
from eventline.producers.problems import TOO_LARGE, InputRejected, Problem, prefixed
from eventline.schemas import limits
from eventline.schemas.model import CONTACT, EVENT, event_id_for, incoming_record, normalize_email

__all__ = ["InputRejected", "Problem"]  # re-exported: the dialects import them from here

# Account ids appear inside identity keys ("account/kind/value"): no slash, no spaces.
ACCOUNT_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
# Record fields as the client names them.
_CLIENT_NAMES = {"properties_json": "properties", "attributes_json": "attributes"}
_SIZED = {
    "properties_json": limits.MAX_PROPERTIES_BYTES,
    "attributes_json": limits.MAX_ATTRIBUTES_BYTES,
}


# An address of this shape is one EmailStr (email_validator) accepts as it is, with its domain
# lower-cased: checked here at a fraction of the cost. Anything else (quoted or Unicode local
# parts, internationalized domains, "Name <address>", labels with "--", ...) goes through
# EmailStr, which accepts or refuses it with its own reason.
_PLAIN_EMAIL = re.compile(
    r"(?P<local>[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*)@"
    r"(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})"
)
_SPECIAL_USE = tuple(email_validator.SPECIAL_USE_DOMAIN_NAMES)


def plain_email(value: str) -> str | None:
    """The address as EmailStr normalizes it when it is a plain one (above), else None."""
    plain = _PLAIN_EMAIL.fullmatch(value)
    if plain is not None and len(value) <= 254 and len(plain["local"]) <= 64:
        domain = _ordinary_domain(plain["domain"])
        if domain is not None:
            return f"{plain['local']}@{domain}"
    return None


@functools.lru_cache(maxsize=4096)  # a few domains make most addresses
def _ordinary_domain(domain: str) -> str | None:
    """The domain lower-cased, None when it is special-use or has "--" (email_validator's)."""
    domain = domain.lower()
    special = any(domain == d or domain.endswith("." + d) for d in _SPECIAL_USE)
    return None if special or "--" in domain else domain


def _email(value: str) -> str:
    """The address as EmailStr normalizes it; PydanticCustomError (EmailStr's) when invalid."""
    return plain_email(value) or validate_email(value)[1]


Email = Annotated[
    str, AfterValidator(_email), WithJsonSchema({"type": "string", "format": "email"})
]


class _Identified(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: Email | None = None
    user_id: str | None = Field(default=None, min_length=1, max_length=255)
    contact_id: str | None = Field(default=None, min_length=1, max_length=128)


class EventIn(_Identified):
    """An event as the native API accepts it."""

    name: str = Field(min_length=1, max_length=limits.TEXT_LIMITS["name"])
    event_type: str | None = Field(
        default=None, min_length=1, max_length=limits.TEXT_LIMITS["event_type"]
    )
    occurred_at: datetime | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    value: float | None = None
    is_syncing: bool = False
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # naive timestamps are read as UTC
        return value


class ContactIn(_Identified):
    """A contact registration or update as the native API accepts it."""

    attributes: dict[str, Any] = Field(default_factory=dict)


def _problems(exc: ValidationError, prefix: str = "") -> list[Problem]:
    out = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "body"
        out.append(Problem(field=prefix + field, reason=err["msg"]))
    return out


def _identity_problem(model: _Identified) -> list[Problem]:
    if model.email or model.user_id or model.contact_id:
        return []
    return [Problem(field="email", reason="one of email, user_id or contact_id is required")]


def form_to_dict(form: Mapping[str, Any]) -> dict[str, Any]:
    """Form fields to the JSON shape: ``properties`` as JSON text or ``properties[key]`` fields."""
    out: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in form.items():
        for group in ("properties", "attributes"):
            if key.startswith(f"{group}[") and key.endswith("]"):
                nested.setdefault(group, {})[key[len(group) + 1 : -1]] = value
                break
        else:
            out[key] = value
    for group in ("properties", "attributes"):
        if isinstance(out.get(group), str):
            # JSON text of the whole group; anything but an object is refused by the model
            out[group] = json_input.decode(out[group], group) if out[group] else {}
        if group in nested:
            current = out.get(group)
            base: dict[str, Any] = current if isinstance(current, dict) else {}
            out[group] = {**base, **nested[group]}
    return out


def parse_event(
    data: Any,
    *,
    account: str,
    source: str,
    received_at: datetime,
    idempotency_key: str | None = None,
    prefix: str = "",
    route_key: str | None = None,
    unknown_contact: str | None = None,
) -> dict[str, Any]:
    """Validate one event; return its incoming record. Raises InputRejected naming each field.

    ``route_key`` names the contact by an identity key the body does not carry (a dialect's
    path parameter, such as Mailchimp's subscriber hash)."""
    if not isinstance(data, Mapping):
        raise InputRejected([Problem(field=prefix + "body", reason="must be a JSON object")])
    payload = dict(data)
    if idempotency_key and not payload.get("idempotency_key"):
        payload["idempotency_key"] = idempotency_key
    try:
        event = EventIn.model_validate(payload)
    except ValidationError as exc:
        raise InputRejected(_problems(exc, prefix)) from exc
    problems = [] if route_key else _identity_problem(event)
    occurred = _utc(event.occurred_at, "occurred_at", problems) or received_at
    if problems:
        raise InputRejected(prefixed(problems, prefix))
    receipt_id = random_uuid()  # the receipt's id first, then the event's (the quick path too)
    key = event.idempotency_key
    record = incoming_record(
        kind=EVENT,
        account_id=account,
        event_id=event_id_for(account, key) if key else random_uuid(),
        receipt_id=receipt_id,
        received_at=received_at,
        source=source,
        idempotency_key=key,
        email=normalize_email(event.email) if event.email else None,
        user_id=event.user_id,
        contact_id=event.contact_id,
        name=event.name,
        occurred_at=occurred,
        properties_json=_stored_json(event.properties),
        value=event.value,
        is_syncing=event.is_syncing,
        route_key=route_key,
        event_type=event.event_type,
        unknown_contact=unknown_contact,
    )
    return within_limits(record, prefix)


def parse_contact(data: Any, *, account: str, source: str, received_at: datetime) -> dict[str, Any]:
    """Validate a contact registration/update; return its incoming record."""
    if not isinstance(data, Mapping):
        raise InputRejected([Problem(field="body", reason="must be a JSON object")])
    try:
        contact = ContactIn.model_validate(dict(data))
    except ValidationError as exc:
        raise InputRejected(_problems(exc)) from exc
    problems = _identity_problem(contact)
    if problems:
        raise InputRejected(problems)
    receipt_id = random_uuid()
    record = incoming_record(
        kind=CONTACT,
        account_id=account,
        event_id=random_uuid(),
        receipt_id=receipt_id,
        received_at=received_at,
        source=source,
        email=normalize_email(contact.email) if contact.email else None,
        user_id=contact.user_id,
        contact_id=contact.contact_id,
        occurred_at=received_at,
        attributes_json=_stored_json(contact.attributes),
    )
    return within_limits(record)


def _stored_json(value: dict[str, Any]) -> str:
    """Properties or attributes as stored: compact UTF-8 JSON (not \\u-escaped, so the byte
    bound weighs every script alike)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _utc(value: datetime | None, field: str, problems: list[Problem]) -> datetime | None:
    """``value`` (with its offset) when it has a UTC form; a time whose UTC form is before
    year 1 or after 9999 is a problem (comparing it would raise OverflowError)."""
    if value is None:
        return None
    try:
        value.astimezone(UTC)
        return value
    except OverflowError:
        problems.append(Problem(field=field, reason="is out of range"))
        return None


def within_limits(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``record`` when it is within every bound of ``eventline.schemas.limits`` (what the worker
    would otherwise fail); else InputRejected naming each field as the client named it, 413 for a
    size bound."""
    if limits.certainly_within(record, record["received_at"]):
        return record
    violations = limits.record_violations(record, record["received_at"])
    if not violations:
        return record
    problems = []
    for v in violations:
        base, dot, rest = v.field.partition(".")
        name = _CLIENT_NAMES.get(base, base) + dot + rest
        sized = _SIZED.get(base)
        too_large = sized is not None and len(record[base].encode("utf-8")) > sized
        status = TOO_LARGE if too_large else 400
        problems.append(Problem(field=prefix + name, reason=v.reason, status=status))
    raise InputRejected(problems)


def rejected_record(
    data: Any, *, account: str, source: str, received_at: datetime, kind: str = EVENT
) -> dict[str, Any]:
    """A best-effort incoming record for input that failed validation, so it can be recorded
    (its status says why): within every bound, whatever the input was."""
    fields = data if isinstance(data, Mapping) else {}

    def text(name: str) -> str | None:
        value = fields.get(name)
        return str(value)[:255] if value not in (None, "") else None

    idem = text("idempotency_key")
    account_id = account
    record = incoming_record(
        kind=kind,
        account_id=account_id,
        event_id=event_id_for(account_id, idem),
        receipt_id=str(uuid.uuid4()),
        received_at=received_at,
        source=source,
        idempotency_key=idem,
        email=text("email"),
        user_id=text("user_id"),
        contact_id=text("contact_id"),
        name=text("name"),
        event_type=text("event_type"),
    )
    return limits.storable(record, received_at)
