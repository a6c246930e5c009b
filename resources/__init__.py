"""MCP resources: read-only views of the artifact store under papercoder://runs/..."""

from __future__ import annotations

from papercoder_mcp.resources.artifacts import register

__all__ = ["register"]
