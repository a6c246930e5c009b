"""papercoder-mcp: turn a machine-learning paper into a code repository (PaperCoder as an MCP server)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("papercoder-mcp")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
