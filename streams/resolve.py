"""Identity resolution: which contact an incoming record belongs to. Pure logic, no Kafka."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from schemas.model import EVENT, IDENTITY, minted_contact_id

Lookup = Callable[[str], str | None]
ALIAS = "@"  # identity table values starting with it point at another identity key
SUBSCRIBER_HASH = re.compile(r"^[0-9a-f]{32}$")  # as schemas.model.subscriber_hash writes it


@dataclass
class Resolution:
    """The outcome for one record: a contact id, a key to forward to, or an error."""

    contact_id: str | None = None
    forward_to: str | None = None
    error: str | None = None
    # identity key -> contact id or alias, to store in the identity table on this partition
    store: dict[str, str] = field(default_factory=dict)


def why_fail(record: dict[str, Any]) -> str:
    """Why an unknown contact fails this record, for its process_error."""
    if record.get("unknown_contact") == "fail":
        return f"events from {record.get('source')} must name an existing contact"
    return "this account's unknown-contact policy is 'fail'"


def resolve(record: dict[str, Any], key: str, lookup: Lookup, policy: str) -> Resolution:
    """Resolve ``record``, which arrived under identity ``key``, against the identity table.

    - IDENTITY records store an alias: ``key`` now resolves wherever ``route_key`` does.
    - a contact key (``account/contact/id``) is the contact id itself.
    - an alias forwards the record to the aliased key's partition. Aliases always point to a
      higher-precedence identifier (user -> email -> contact), so chains end and never loop.
    - an unknown email or user id mints a deterministic contact id when the record is a
      contact registration or the account's policy is ``create``; else it is an error.
    """
    account, kind, value = key.split("/", 2)
    if kind == "md5" and not SUBSCRIBER_HASH.match(value):
        # Never stored, never minted: a malformed hash must not become anyone's identity.
        return Resolution(error=f"not a subscriber hash: {value!r} (32 lower-case hex digits)")
    if record["kind"] == IDENTITY:
        return Resolution(store={key: ALIAS + record["route_key"]})
    if kind == "contact":
        return Resolution(contact_id=value)
    known = lookup(key)
    if known is not None and known.startswith(ALIAS):
        return Resolution(forward_to=known[len(ALIAS) :])
    if known is not None:
        return Resolution(contact_id=known)
    if record["kind"] == EVENT and kind == "md5":
        # A hash names an existing member only: there is no email to create a contact from.
        return Resolution(
            error=f"unknown contact: no contact with subscriber_hash {value!r} in account "
            f"{account!r} (register the contact with its email first)"
        )
    if record["kind"] == EVENT and policy != "create":
        label = "user_id" if kind == "user" else kind
        return Resolution(
            error=f"unknown contact: no contact with {label} {value!r} in account {account!r} "
            f"({why_fail(record)})"
        )
    contact_id = minted_contact_id(key)
    return Resolution(contact_id=contact_id, store={key: contact_id})
