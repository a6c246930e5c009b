"""Evaluations as MCP resources (read-only).

papercoder://runs/{run_id}/evaluation/{key}   judge / rubric aggregates, and every judge sample
                                             (judge:ref-free:0 ...), rubric batch (rubric:DIGEST:batch1),
                                             stored rubric (rubric-spec:DIGEST) and reference snapshot
papercoder://runs/{run_id}/numbered/{path}    one file of the repository (config.yaml included) with line
                                             numbers, as graders see it and cite it (path:line)
"""

from __future__ import annotations

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError

from papercoder_mcp.errors import PaperCoderError
from papercoder_mcp.evaluation.repo_context import run_files
from papercoder_mcp.server.offload import off_loop
from papercoder_mcp.stages.base import StageContext
from papercoder_mcp.store import Store


def register(server: MCPServer, store: Store) -> None:
    @server.resource(
        "papercoder://runs/{run_id}/evaluation/{+key}",
        name="evaluation",
        mime_type="application/json",
        description="A stored evaluation: 'judge' (Paper2Code-style scores and critiques), 'rubric' "
        "(PaperBench-style coverage of a rubric's requirements, read not executed), or one judge sample / "
        "rubric batch by its key",
    )
    async def evaluation(run_id: str, key: str) -> str:
        try:
            return await off_loop(lambda: store.get_artifact(run_id, "evaluation", key).content)
        except PaperCoderError as exc:
            raise ResourceNotFoundError(str(exc)) from exc

    @server.resource(
        "papercoder://runs/{run_id}/numbered/{+path}",
        name="numbered_file",
        mime_type="text/markdown",
        description="One file of the repository (config.yaml included) with line numbers, exactly as "
        "evaluation prompts show it: cite it as path:line",
    )
    async def numbered(run_id: str, path: str) -> str:
        try:
            listed = await off_loop(run_files, StageContext(store=store, run_id=run_id))
            files = {f.path: f for f in listed}
        except PaperCoderError as exc:
            raise ResourceNotFoundError(str(exc)) from exc
        if path not in files:
            raise ResourceNotFoundError(
                f"run {run_id!r} has no file {path!r}; see papercoder://runs/{run_id}"
            )
        return files[path].rendered()
