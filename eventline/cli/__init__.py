"""The ``eventline`` command (one module per group of subcommands)."""

from eventline.cli.main import app, main

__all__ = ["app", "main"]
