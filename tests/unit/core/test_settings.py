"""eventline.core.settings: EVENTLINE_* variables, policies and the bootstrap default."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsError

from eventline.core.settings import Settings


def test_defaults() -> None:
    settings = Settings()
    assert settings.partitions == 3
    assert settings.topic_prefix == "eventline"
    assert settings.unknown_contact == "create"
    assert settings.unknown_contact_by_account == {}
    assert settings.uses_local_kafka and settings.uses_embedded_clickhouse


def test_bootstrap_defaults_to_the_local_broker() -> None:
    assert Settings().bootstrap() == "127.0.0.1:19092"


def test_bootstrap_follows_the_local_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTLINE_LOCAL_KAFKA_PORT", "29092")
    assert Settings().bootstrap() == "127.0.0.1:29092"


def test_bootstrap_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTLINE_KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9092")
    settings = Settings()
    assert settings.bootstrap() == "kafka-1:9092,kafka-2:9092"
    assert not settings.uses_local_kafka


def test_partitions_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTLINE_PARTITIONS", "12")
    assert Settings().partitions == 12


@pytest.mark.parametrize("value", ["0", "many"])
def test_invalid_partitions_are_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("EVENTLINE_PARTITIONS", value)
    with pytest.raises(ValidationError):
        Settings()


def test_policy_overrides_from_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTLINE_UNKNOWN_CONTACT_BY_ACCOUNT", '{"acme": "fail"}')
    settings = Settings()
    assert settings.unknown_contact_by_account == {"acme": "fail"}
    assert settings.policy_for("acme") == "fail"
    assert settings.policy_for("globex") == "create"


def test_global_policy_applies_to_accounts_without_override(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVENTLINE_UNKNOWN_CONTACT", "fail")
    monkeypatch.setenv("EVENTLINE_UNKNOWN_CONTACT_BY_ACCOUNT", '{"trial": "create"}')
    settings = Settings()
    assert settings.policy_for("acme") == "fail"
    assert settings.policy_for("trial") == "create"


def test_unknown_policy_in_overrides_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTLINE_UNKNOWN_CONTACT_BY_ACCOUNT", '{"acme": "maybe"}')
    with pytest.raises(ValidationError):
        Settings()


def test_overrides_that_are_not_json_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTLINE_UNKNOWN_CONTACT_BY_ACCOUNT", "acme=fail")
    with pytest.raises(SettingsError):
        Settings()


def test_unknown_eventline_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTLINE_NO_SUCH_KNOB", "1")
    Settings()
