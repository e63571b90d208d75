"""eventline's version: the package's (pyproject.toml reads it here) and the OpenAPI page's."""

VERSION = "0.1.0"
