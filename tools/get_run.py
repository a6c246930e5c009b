"""MCP tool `get_run`."""

from __future__ import annotations

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from papercoder_mcp.errors import PaperCoderError
from papercoder_mcp.kinds import artifact_uri
from papercoder_mcp.pipeline.status import run_status
from papercoder_mcp.server.app import app_of
from papercoder_mcp.server.client_sampling import find_stage
from papercoder_mcp.server.offload import off_loop
from papercoder_mcp.server.results import RunReport
from papercoder_mcp.tools._params import READ_ONLY, RunId

TITLE = "Show a run's status"
ANNOTATIONS = READ_ONLY


async def get_run(run_id: RunId, ctx: Context) -> RunReport:
    """A run's steps (done, stale, missing; verification failed), cost, and the next call. `complete`:
    every step done and fresh and the current files' verification passed; `problems`: what is left.
    """
    app = app_of(ctx)
    try:
        status = await off_loop(run_status, app.store, run_id)
    except PaperCoderError as exc:
        raise ToolError(str(exc)) from exc
    resources = [f"papercoder://runs/{run_id}/paper"]
    for s in status.steps:
        stage = find_stage(s.stage)
        kind = stage.kind if stage is not None else "verification"
        if s.status != "missing":
            resources.append(artifact_uri(run_id, kind, s.key))
    return RunReport(**status.model_dump(), resources=resources)
