"""Identity resolution: which contact an incoming record belongs to. Pure logic, no Kafka."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eventline.schemas.model import EVENT, IDENTITY, SEP, minted_contact_id

Lookup = Callable[[str], str | None]
ALIAS = "@"  # identity table values starting with it point at another identity key
# Suffix of the identity-table key that remembers the merge a claim of the key started
# (value: "<source contact id>\x1f<the claim's receipt id>"), so that a replay starts it again.
MERGED = SEP + "merged"
# Forwards along aliases before a record fails: aliases between user ids (Segment's alias,
# an anonymous id claimed for a user) can form a loop, which would forward a record forever.
MAX_HOPS = 16
# as eventline.schemas.model.subscriber_hash writes it
SUBSCRIBER_HASH = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class Resolution:
    """The outcome for one record: a contact id, a key to forward to, or an error."""

    contact_id: str | None = None
    forward_to: str | None = None
    error: str | None = None
    # A claim that re-pointed a key with a contact of its own: that contact merges into the
    # one the claim's route key resolves to (the record is sent on there, ``merge_from`` set).
    merge_from: str | None = None
    # identity key -> contact id or alias, to store in the identity table on this partition
    store: dict[str, str] = field(default_factory=dict)


def why_fail(record: dict[str, Any]) -> str:
    """Why an unknown contact fails this record, for its process_error."""
    if record.get("unknown_contact") == "fail":
        return f"events from {record.get('source')} must name an existing contact"
    return "this account's unknown-contact policy is 'fail'"


def resolve(record: dict[str, Any], key: str, lookup: Lookup, policy: str) -> Resolution:
    """Resolve ``record``, which arrived under identity ``key``, against the identity table.

    - IDENTITY records store an alias: ``key`` now resolves wherever ``route_key`` does. When
      ``key`` had a contact of its own, that contact is merged (``Resolution.merge_from``).
    - an IDENTITY record with ``merge_from`` (a merge on its way to its target) resolves
      like a registration: its contact is the merge's target.
    - a contact key (``account/contact/id``) is the contact id itself.
    - an alias forwards the record to the aliased key's partition. A registration's aliases
      point to a higher-precedence identifier (user -> email -> contact), so their chains
      end; claims between user ids may loop, so a record forwarded ``MAX_HOPS`` times fails.
    - an unknown email or user id mints a deterministic contact id when the record is a
      contact registration or the account's policy is ``create``; else it is an error.
    """
    account, kind, value = key.split("/", 2)
    if kind == "md5" and not SUBSCRIBER_HASH.match(value):
        # Never stored, never minted: a malformed hash must not become anyone's identity.
        return Resolution(error=f"not a subscriber hash: {value!r} (32 lower-case hex digits)")
    if record["kind"] == IDENTITY and not record.get("merge_from"):
        return claim(record, key, lookup)
    if kind == "contact":
        return Resolution(contact_id=value)
    known = lookup(key)
    if known is not None and known.startswith(ALIAS):
        if record["kind"] == IDENTITY and record.get("merge_from"):
            undone = _loop_closed(record, key, lookup)
            if undone is not None:
                return undone
        if record.get("hops", 0) >= MAX_HOPS:
            return Resolution(
                error=f"identity alias loop: {key!r} was forwarded along {MAX_HOPS} aliases "
                "without reaching a contact"
            )
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


def _loop_closed(record: dict[str, Any], key: str, lookup: Lookup) -> Resolution | None:
    """A merge on its way that came back to the key whose claim started it: the claim's route
    led back to that key (``alias`` called both ways: u1 -> u2, then u2 -> u1). Following it
    would circle until the hop bound and leave both keys aliases of each other, so every
    later record of either would fail. The later claim is undone instead: the key gets its
    contact back, and the claim fails, visibly, with the reason. We are on that key's own
    partition, so its entry can be restored here; a replay of the claim ends the same way."""
    started = lookup(key + MERGED)
    if started is None or started.partition(SEP)[0] != record["merge_from"]:
        return None
    return Resolution(
        error=f"identity alias loop: {key!r} and {record['route_key']!r} would each name the "
        f"other; this claim is undone ({key!r} keeps its contact)",
        store={key: record["merge_from"]},
    )


def claim(record: dict[str, Any], key: str, lookup: Lookup) -> Resolution:
    """An identity claim: ``key`` now resolves wherever the claim's ``route_key`` does.

    A key that resolved to a contact of its own (an anonymous visitor's, a user id's met
    before its registration) gives that contact up: it merges into the route key's contact.
    Once only: the key is an alias afterwards, and a later claim finds the alias; a replay of
    this very claim (same receipt) finds the merge it started remembered, and starts it
    again (every step of a merge repeats itself, eventline.streams.merge)."""
    route = record["route_key"]
    if route == key:  # a key aliased to itself would forward its records forever
        return Resolution()
    store = {key: ALIAS + route}
    known = lookup(key)
    if known is not None and not known.startswith(ALIAS):
        store[key + MERGED] = f"{known}{SEP}{record['receipt_id']}"
        return Resolution(store=store, merge_from=known)
    started = lookup(key + MERGED)
    if known == ALIAS + route and started is not None:
        source, _, receipt = started.partition(SEP)
        if receipt == record["receipt_id"]:
            return Resolution(store=store, merge_from=source)
    return Resolution(store=store)
