"""A failure of the `eventline` command is one line naming what the user set (issue 13)."""

from __future__ import annotations

import socket
import sys

import pytest

from eventline import cli
from eventline.core.errors import KafkaUnreachable
from eventline.core.settings import Settings, get_settings
from eventline.core.topics import ensure_topics


def _run(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setattr(sys, "argv", ["eventline", *argv])
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as exited:
            cli.main()
    finally:
        get_settings.cache_clear()
    return int(exited.value.code or 0)


def test_a_bad_setting_names_the_variable_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVENTLINE_GATEWAY_PORT", "abc")
    assert _run(monkeypatch, "kafka", "status") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "EVENTLINE_GATEWAY_PORT='abc'" in err and "integer" in err
    assert "Traceback" not in err and "gateway_port" not in err


def test_verbose_adds_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVENTLINE_PARTITIONS", "0")
    assert _run(monkeypatch, "--verbose", "kafka", "status") == 2
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert err.rstrip().splitlines()[-1].startswith("eventline: a setting is not valid: ")
    assert "EVENTLINE_PARTITIONS='0'" in err


def test_no_broker_is_one_error_naming_the_address_and_the_variable(tmp_path: object) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{port}")
    with pytest.raises(KafkaUnreachable) as refused:
        ensure_topics(settings, timeout_s=1.0)
    assert f"127.0.0.1:{port}" in str(refused.value)
    assert "EVENTLINE_KAFKA_BOOTSTRAP" in str(refused.value)
