"""The command line: a thin layer over the library. `app` holds the typer application and its shared helpers;
`pipeline`, `eval` and `serve` register their commands on it."""

from __future__ import annotations

from papercoder_mcp.cli.app import app, main

__all__ = ["app", "main"]
