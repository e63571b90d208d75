"""Accounts and API keys: minting keys, recognising them, and the in-memory view of the
accounts topic. Pure logic; ``eventline.schemas.accounts.service`` feeds it from Kafka.

A key reads ``el_<key id>_<secret>``. Only the SHA-256 of the whole key is stored (keys are
random, 190 bits: a fast hash is enough, a slow one would only slow every request), so a key
is shown once, when it is created.

Some vendor SDKs check the key's shape before sending anything (``mailchimp3`` wants 32 hex
digits, a dash and a datacenter). A key of the ``mailchimp`` shape reads
``<key id: 12 hex><secret: 20 hex>-el<secret: 32 hex>``: its first part is the 32 hex digits
the SDK checks, and the part after the dash, which the SDK takes for a datacenter (it only
names a host, which eventline's base URL replaces), carries the rest of the secret, so the
secret is 208 bits, at least as strong as the native shape's.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ACCOUNT = "ACCOUNT"
API_KEY = "API_KEY"
KEY_PREFIX = "el"
EVENTLINE_SHAPE = "eventline"
MAILCHIMP_SHAPE = "mailchimp"
SHAPES = (EVENTLINE_SHAPE, MAILCHIMP_SHAPE)
KEY_ID_HEX = 12
# <key id><80-bit secret>-el<128-bit secret>: mailchimp3 checks ^[0-9a-f]{32}$ before the dash.
MAILCHIMP_KEY = re.compile(r"^([0-9a-f]{12})[0-9a-f]{20}-el[0-9a-f]{32}$")


class AuthError(Exception):
    """A request's credentials do not admit it. ``status`` is 401 (who are you), 403, or 400
    for an account name that cannot be one; ``field`` names the header at fault, if any."""

    def __init__(self, status: int, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.field = field


def entry_key(kind: str, entry_id: str) -> str:
    """The Kafka key of an entry on the accounts topic."""
    return f"{'account' if kind == ACCOUNT else 'key'}/{entry_id}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def mint_key(shape: str = EVENTLINE_SHAPE) -> tuple[str, str]:
    """A new (key id, key) of ``shape`` (one of SHAPES)."""
    key_id = secrets.token_hex(KEY_ID_HEX // 2)
    if shape == MAILCHIMP_SHAPE:
        return key_id, f"{key_id}{secrets.token_hex(10)}-{KEY_PREFIX}{secrets.token_hex(16)}"
    if shape != EVENTLINE_SHAPE:
        raise ValueError(f"unknown key shape {shape!r}: one of {', '.join(SHAPES)}")
    return key_id, f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(24)}"


def key_id_of(key: str) -> str | None:
    """The key id a presented key claims, or None when it is not shaped like our keys."""
    mailchimp = MAILCHIMP_KEY.match(key)
    if mailchimp:
        return mailchimp.group(1)
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != KEY_ID_HEX:
        return None
    return parts[1]


def shape_of(key_hint: str | None) -> str:
    """The shape of a key, told by its hint (the native shape's starts with ``el_``)."""
    return EVENTLINE_SHAPE if (key_hint or "").startswith(f"{KEY_PREFIX}_") else MAILCHIMP_SHAPE


def account_entry(
    account_id: str, name: str, number: int, at: datetime, enabled: bool = True
) -> dict[str, Any]:
    return {
        "kind": ACCOUNT,
        "account_id": account_id,
        "entry_id": account_id,
        "name": name,
        "enabled": enabled,
        "number": number,
        "secret_sha256": None,
        "key_hint": None,
        "settings_json": "{}",
        "created_at": at,
        "updated_at": at,
    }


def key_entry(account_id: str, key_id: str, key: str, label: str, at: datetime) -> dict[str, Any]:
    return {
        "kind": API_KEY,
        "account_id": account_id,
        "entry_id": key_id,
        "name": label,
        "enabled": True,
        "number": None,
        "secret_sha256": hash_key(key),
        # The key id and three characters of the secret, whatever the shape.
        "key_hint": key[: KEY_ID_HEX + 3] + "…"
        if MAILCHIMP_KEY.match(key)
        else key[: len(KEY_PREFIX) + 1 + KEY_ID_HEX + 3] + "…",
        "settings_json": "{}",
        "created_at": at,
        "updated_at": at,
    }


@dataclass
class Registry:
    """Accounts by id and by number, keys by id: the latest entry of each."""

    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_number: dict[int, str] = field(default_factory=dict)

    def apply(self, kafka_key: str, entry: dict[str, Any] | None) -> None:
        """Apply one record of the accounts topic (None: a deletion)."""
        kind, _, entry_id = kafka_key.partition("/")
        table = self.accounts if kind == "account" else self.keys
        old = table.pop(entry_id, None)
        if old is not None and old.get("number") is not None:
            self.by_number.pop(old["number"], None)
        if entry is None:
            return
        table[entry_id] = entry
        if kind == "account" and entry.get("number") is not None:
            self.by_number[entry["number"]] = entry_id

    def put_account(self, account_id: str, entry: dict[str, Any] | None) -> None:
        """Set an account's entry (None: it has none), as the ledger folded it."""
        self.apply(f"account/{account_id}", entry)

    def keys_of(self, account_id: str) -> list[dict[str, Any]]:
        return sorted(
            (k for k in self.keys.values() if k["account_id"] == account_id),
            key=lambda k: k["created_at"],
        )

    def authenticate(self, key: str) -> str:
        """The account a presented key acts for; AuthError when it does not admit anyone."""
        key_id = key_id_of(key)
        entry = self.keys.get(key_id) if key_id else None
        if entry is None or not hmac.compare_digest(entry["secret_sha256"] or "", hash_key(key)):
            raise AuthError(401, "unknown API key")
        if not entry["enabled"]:
            raise AuthError(403, f"API key {key_id} is disabled")
        account = self.accounts.get(entry["account_id"])
        if account is None or not account["enabled"]:
            raise AuthError(403, f"account {entry['account_id']!r} is disabled or deleted")
        return str(entry["account_id"])

    def free_number(self) -> int:
        """A 9-digit account number not in use (ActiveCampaign's actid has 9 digits)."""
        while True:
            number = 100_000_000 + secrets.randbelow(900_000_000)
            if number not in self.by_number:
                return number


def account_view(entry: dict[str, Any]) -> dict[str, Any]:
    """An account as the API and the CLI show it."""
    return {
        "account_id": entry["account_id"],
        "name": entry["name"],
        "number": entry["number"],
        "enabled": entry["enabled"],
        "created_at": entry["created_at"].isoformat(),
        "updated_at": entry["updated_at"].isoformat(),
    }


def key_view(entry: dict[str, Any]) -> dict[str, Any]:
    """An API key as the API and the CLI show it (its hint, never the key)."""
    return {
        "key_id": entry["entry_id"],
        "account_id": entry["account_id"],
        "label": entry["name"],
        "key_hint": entry["key_hint"],
        "shape": shape_of(entry["key_hint"]),
        "enabled": entry["enabled"],
        "created_at": entry["created_at"].isoformat(),
        "updated_at": entry["updated_at"].isoformat(),
    }
