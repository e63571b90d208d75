"""``eventline keys create --shape``: an unknown shape is refused before Kafka is asked."""

from __future__ import annotations

from typer.testing import CliRunner

from eventline.cli import app


def test_an_unknown_key_shape_is_refused_naming_the_shapes() -> None:
    result = CliRunner().invoke(app, ["keys", "create", "acme", "--shape", "segment"])
    assert result.exit_code == 2
    assert "eventline, mailchimp" in result.output


def test_the_shape_option_is_documented() -> None:
    result = CliRunner().invoke(app, ["keys", "create", "--help"])
    assert result.exit_code == 0 and "--shape" in result.output and "mailchimp" in result.output
