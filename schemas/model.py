"""The canonical model shared by gateway, worker and sink: ids, keys, and record checks."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from eventline.core import clock
from eventline.core.errors import InvalidEvent
from eventline.schemas import limits

# Fixed namespace: ids derived from it are stable across processes, restarts and versions.
NAMESPACE = uuid.UUID("6f1d1c7e-5b0e-4d4e-9a57-2a0c5d9e7b11")
SEP = "\x1f"

EVENT = "EVENT"
CONTACT = "CONTACT"
IDENTITY = "IDENTITY"


def now() -> datetime:
    """The deployment's time (``core.clock``): system time unless the clock is adjustable."""
    return clock.now()


def name_id(namespace: uuid.UUID, name: str) -> str:
    """``str(uuid.uuid5(namespace, name))`` at a third of its cost (the UUID object and its
    integer arithmetic were two thirds of it: every keyed event, trigger and transition pays
    it). tests/unit/schemas/test_model.py holds both equal."""
    digest = bytearray(hashlib.sha1(namespace.bytes + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def event_id_for(account_id: str, idempotency_key: str | None) -> str:
    """The event id: derived from (account, idempotency key) so a resend gets the same id."""
    if idempotency_key is None:
        return str(uuid.uuid4())
    return name_id(NAMESPACE, f"{account_id}{SEP}idem{SEP}{idempotency_key}")


def minted_contact_id(routing_key: str) -> str:
    """Contact id for a contact first seen under ``routing_key``: deterministic, so a replay or
    a concurrent registration of the same email mints the same contact."""
    return name_id(NAMESPACE, routing_key)


def normalize_email(email: str) -> str:
    """Emails match case-insensitively: we store and compare them lower-cased and trimmed."""
    return email.strip().lower()


def subscriber_hash(email: str) -> str:
    """Mailchimp's name for a list member: the MD5 of the lower-cased email."""
    return hashlib.md5(normalize_email(email).encode(), usedforsecurity=False).hexdigest()


def routing_key(record: dict[str, Any]) -> str:
    """Key of a record on the incoming topic: the identifier the resolver looks up.

    Precedence: a forwarding route_key, then contact_id (exact), then email, then user_id.
    """
    if record.get("route_key"):
        return str(record["route_key"])
    account = record["account_id"]
    if record.get("contact_id"):
        return f"{account}/contact/{record['contact_id']}"
    if record.get("email"):
        return f"{account}/email/{record['email']}"
    if record.get("user_id"):
        return f"{account}/user/{record['user_id']}"
    raise InvalidEvent("email", "one of email, user_id or contact_id is required")


def identity_key(account_id: str, kind: str, value: str) -> str:
    return f"{account_id}/{kind}/{value}"


def identity_keys(record: dict[str, Any]) -> list[str]:
    """Every identity key a record names, primary (routing) key first; an email also names
    its subscriber hash (``md5``), so dialects that address members by hash find them."""
    account = record["account_id"]
    keys = [routing_key(record)]
    for kind, field in (("contact", "contact_id"), ("email", "email"), ("user", "user_id")):
        if record.get(field):
            key = identity_key(account, kind, record[field])
            if key not in keys:
                keys.append(key)
    if record.get("email"):
        keys.append(identity_key(account, "md5", subscriber_hash(record["email"])))
    return keys


def alias_claims(record: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """IDENTITY records that point a contact registration's other identifiers at its primary key.

    The gateway writes them, keyed by each secondary identity, before it acknowledges the
    registration: any later event naming a secondary identifier finds the alias first on its
    own partition, and is forwarded to the primary key's partition, where the registration
    already is. Causal order holds without cross-partition coordination.
    """
    return claims_to(record, identity_keys(record)[1:])


def claims_to(record: dict[str, Any], keys: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """IDENTITY records that point each of ``keys`` at ``record``'s primary key. A key that
    had a contact of its own (an anonymous visitor's) merges it into the record's contact
    (eventline.streams.merge): Segment's identify with both ids, and its alias."""
    primary = routing_key(record)
    return [
        (key, {**record, "kind": IDENTITY, "route_key": primary}) for key in keys if key != primary
    ]


def incoming_record(
    *,
    kind: str = EVENT,
    account_id: str,
    event_id: str,
    receipt_id: str,
    received_at: datetime,
    source: str,
    idempotency_key: str | None = None,
    email: str | None = None,
    user_id: str | None = None,
    contact_id: str | None = None,
    name: str | None = None,
    occurred_at: datetime | None = None,
    properties_json: str = "{}",
    value: float | None = None,
    is_syncing: bool = False,
    attributes_json: str = "{}",
    attempt: int = 0,
    route_key: str | None = None,
    event_type: str | None = None,
    unknown_contact: str | None = None,
    merge_from: str | None = None,
    hops: int = 0,
) -> dict[str, Any]:
    """An incoming record (Avro ``IncomingRecord``): the one place its fields are written out,
    in the schema's order, with the schema's defaults. Every record is built here: by the
    gateway's validation and its quick path, by re-drive, and as the stand-in the worker and
    the sink record for input that could not become a record (rejected, undecodable)."""
    return {
        "kind": kind,
        "account_id": account_id,
        "event_id": event_id,
        "receipt_id": receipt_id,
        "idempotency_key": idempotency_key,
        "received_at": received_at,
        "source": source,
        "email": email,
        "user_id": user_id,
        "contact_id": contact_id,
        "name": name,
        "occurred_at": occurred_at,
        "properties_json": properties_json,
        "value": value,
        "is_syncing": is_syncing,
        "attributes_json": attributes_json,
        "attempt": attempt,
        "route_key": route_key,
        "event_type": event_type,
        "unknown_contact": unknown_contact,
        "merge_from": merge_from,
        "hops": hops,
    }


def contact_key(account_id: str, contact_id: str) -> str:
    """Key of every per-contact topic and table: the unit of ordering and co-partitioning."""
    return f"{account_id}/{contact_id}"


def check_record(record: dict[str, Any]) -> None:
    """Re-check a decoded incoming record (it may come straight from Kafka, not the gateway):
    identity, name, and every bound of ``eventline.schemas.limits``. Raises InvalidEvent naming the
    first field at fault (and the others in its reason)."""
    if not record.get("account_id"):
        raise InvalidEvent("account_id", "is required")
    found = limits.record_violations(record, clock.now())
    if found:
        first, *others = found
        reasons = [first.reason, *(f"{v.field}: {v.reason}" for v in others)]
        raise InvalidEvent(first.field, "; ".join(reasons))
    routing_key(record)
    if record["kind"] == EVENT and not (record.get("name") or "").strip():
        raise InvalidEvent("name", "is required")
