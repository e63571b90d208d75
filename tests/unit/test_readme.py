"""The README stays true: its configuration table is the settings object's."""

from pathlib import Path

from eventline.core.settings import markdown_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_configuration_table_matches_the_settings() -> None:
    assert markdown_table() in README.read_text(), (
        "README's configuration table is stale: paste `python -m eventline.core.settings` into it"
    )


def test_readme_starts_with_the_two_commands() -> None:
    text = README.read_text()
    assert text.index("make demo") < text.index("## ") and "make test" in text.split("## ")[0]
