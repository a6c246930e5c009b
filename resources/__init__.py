"""MCP resources: read-only views of the artifact store under papercoder://runs/..."""

from __future__ import annotations

from mcp.server import MCPServer

from papercoder_mcp.resources import artifacts, evaluation, originals
from papercoder_mcp.store import Store


def register(server: MCPServer, store: Store) -> None:
    artifacts.register(server, store)
    evaluation.register(server, store)
    originals.register(server, store)


__all__ = ["register"]
