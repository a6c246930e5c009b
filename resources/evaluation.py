"""Evaluations as MCP resources (read-only).

papercoder://runs/{run_id}/evaluation/{key}   judge / rubric aggregates, and every judge sample
                                             (judge:ref-free:0 ...), rubric batch (rubric:DIGEST:batch1),
                                             stored rubric (rubric-spec:DIGEST) and reference snapshot
"""

from __future__ import annotations

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError

from papercoder_mcp.errors import PaperCoderError
from papercoder_mcp.store import Store


def register(server: MCPServer, store: Store) -> None:
    @server.resource(
        "papercoder://runs/{run_id}/evaluation/{+key}",
        name="evaluation",
        mime_type="application/json",
        description="A stored evaluation: 'judge' (Paper2Code-style scores and critiques), 'rubric' "
        "(PaperBench-style replication score), or one judge sample / rubric batch by its key",
    )
    def evaluation(run_id: str, key: str) -> str:
        try:
            return store.get_artifact(run_id, "evaluation", key).content
        except PaperCoderError as exc:
            raise ResourceNotFoundError(str(exc)) from exc
