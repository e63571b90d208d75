"""Open access never serves beyond loopback unless a setting says so, and says so at start
(issue 10, "Unsafe defaults")."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from eventline.cli import app as cli
from eventline.core.errors import ConfigurationError
from eventline.core.settings import Settings
from eventline.producers.gateway import app as gateway_app
from eventline.producers.gateway.serving import is_loopback
from tests.unit.producers.gateway.conftest import use_fakes


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "gateway.internal"])
def test_open_access_beyond_loopback_refuses_to_start(host: str) -> None:
    with pytest.raises(ConfigurationError, match="EVENTLINE_OPEN_ACCESS"):
        gateway_app.create_app(Settings(gateway_host=host))


def test_keys_or_an_explicit_setting_let_it_start(monkeypatch: pytest.MonkeyPatch) -> None:
    gateway_app.create_app(Settings(gateway_host="0.0.0.0", open_access=False))
    gateway_app.create_app(Settings(gateway_host="0.0.0.0", open_access_beyond_loopback=True))


def test_the_cli_exits_with_the_reason_before_starting_anything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVENTLINE_GATEWAY_HOST", "0.0.0.0")
    from eventline.core import settings as settings_module

    settings_module.get_settings.cache_clear()
    try:
        for command in ("gateway", "up"):
            result = CliRunner().invoke(cli, [command])
            assert result.exit_code == 2, result.output
            assert "EVENTLINE_OPEN_ACCESS=false" in result.output
    finally:
        settings_module.get_settings.cache_clear()


def test_open_access_is_announced_in_one_line_at_start(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    use_fakes(monkeypatch)
    with caplog.at_level(logging.WARNING), TestClient(gateway_app.create_app(Settings())):
        pass
    lines = [r.getMessage() for r in caplog.records if "OPEN ACCESS" in r.getMessage()]
    assert len(lines) == 1 and "EVENTLINE_OPEN_ACCESS=false" in lines[0]
    caplog.clear()
    with (
        caplog.at_level(logging.WARNING),
        TestClient(gateway_app.create_app(Settings(open_access=False))),
    ):
        pass
    assert not [r for r in caplog.records if "OPEN ACCESS" in r.getMessage()]
