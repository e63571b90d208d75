"""Keys are recognised by hash only; disabled keys and accounts are refused."""

from datetime import UTC, datetime

import pytest

from eventline.schemas.accounts.registry import (
    AuthError,
    Registry,
    account_entry,
    entry_key,
    hash_key,
    key_entry,
    key_id_of,
    mint_key,
)

AT = datetime(2026, 11, 23, tzinfo=UTC)


def _registry() -> tuple[Registry, str, str]:
    registry = Registry()
    registry.apply("account/acme", account_entry("acme", "Acme", 123456789, AT))
    key_id, key = mint_key()
    registry.apply(entry_key("API_KEY", key_id), key_entry("acme", key_id, key, "ci", AT))
    return registry, key_id, key


def test_a_minted_key_names_its_id_and_is_stored_only_as_a_hash() -> None:
    key_id, key = mint_key()
    assert key_id_of(key) == key_id and len(key) > 40
    entry = key_entry("acme", key_id, key, "ci", AT)
    assert key not in str(entry.values()) and entry["secret_sha256"] == hash_key(key)
    assert entry["key_hint"].startswith(f"el_{key_id}_") and entry["key_hint"] != key


def test_a_valid_key_acts_for_its_account() -> None:
    registry, _, key = _registry()
    assert registry.authenticate(key) == "acme"


@pytest.mark.parametrize("presented", ["", "nonsense", "el_000000000000_secret", "Bearer x"])
def test_unknown_keys_are_401(presented: str) -> None:
    registry, _, _ = _registry()
    with pytest.raises(AuthError) as caught:
        registry.authenticate(presented)
    assert caught.value.status == 401


def test_a_key_with_a_known_id_but_another_secret_is_401() -> None:
    registry, key_id, _ = _registry()
    with pytest.raises(AuthError) as caught:
        registry.authenticate(f"el_{key_id}_{'x' * 32}")
    assert caught.value.status == 401


def test_disabled_keys_and_accounts_are_403() -> None:
    registry, key_id, key = _registry()
    registry.apply(entry_key("API_KEY", key_id), {**registry.keys[key_id], "enabled": False})
    with pytest.raises(AuthError) as caught:
        registry.authenticate(key)
    assert caught.value.status == 403 and key_id in caught.value.reason
    registry.apply(entry_key("API_KEY", key_id), {**registry.keys[key_id], "enabled": True})
    registry.apply("account/acme", {**registry.accounts["acme"], "enabled": False})
    with pytest.raises(AuthError) as caught:
        registry.authenticate(key)
    assert caught.value.status == 403 and "acme" in caught.value.reason


def test_a_deleted_entry_is_forgotten_with_its_number() -> None:
    registry, _, key = _registry()
    assert registry.by_number == {123456789: "acme"}
    registry.apply("account/acme", None)
    assert registry.by_number == {} and "acme" not in registry.accounts
    with pytest.raises(AuthError):
        registry.authenticate(key)


def test_free_numbers_have_nine_digits() -> None:
    assert all(100_000_000 <= Registry().free_number() < 1_000_000_000 for _ in range(100))


def test_a_mailchimp_shaped_key_passes_mailchimp3s_check_and_keeps_a_208_bit_secret() -> None:
    import re

    key_id, key = mint_key("mailchimp")
    first, dc = key.split("-")
    assert re.match(r"^[0-9a-f]{32}$", first) and first.startswith(key_id)  # mailchimp3's check
    assert dc.startswith("el") and len(dc) == 34  # mailchimp-marketing: server = part after "-"
    secret_hex = len(first) - len(key_id) + len(dc) - len("el")
    assert secret_hex * 4 >= 192  # at least the native key's 24 random bytes
    assert key_id_of(key) == key_id
    entry = key_entry("acme", key_id, key, "sdk", AT)
    assert entry["key_hint"] == key[:15] + "…" and key not in str(entry.values())


def test_a_mailchimp_shaped_key_acts_for_its_account_and_a_forged_one_does_not() -> None:
    registry, _, _ = _registry()
    key_id, key = mint_key("mailchimp")
    registry.apply(entry_key("API_KEY", key_id), key_entry("acme", key_id, key, "sdk", AT))
    assert registry.authenticate(key) == "acme"
    forged = key[:-1] + ("0" if key[-1] != "0" else "1")
    with pytest.raises(AuthError) as caught:
        registry.authenticate(forged)
    assert caught.value.status == 401


def test_an_unknown_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        mint_key("segment")
