"""MCP tool `get_run`."""

from __future__ import annotations

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from papercoder_mcp.errors import PaperCoderError
from papercoder_mcp.pipeline.status import run_status
from papercoder_mcp.server.app import STAGE_KINDS, app_of, artifact_uri
from papercoder_mcp.server.results import RunReport
from papercoder_mcp.tools._params import READ_ONLY, RunId

TITLE = "Show a run's status"
ANNOTATIONS = READ_ONLY


async def get_run(run_id: RunId, ctx: Context) -> RunReport:
    """What a run has: every step as done, stale (an input changed since) or missing, the cost so far,
    and the next call to make. `complete` is true only when every file is generated, valid and fresh.
    """
    app = app_of(ctx)
    try:
        status = run_status(app.store, run_id)
    except PaperCoderError as exc:
        raise ToolError(str(exc)) from exc
    resources = [f"papercoder://runs/{run_id}/paper"] + [
        artifact_uri(run_id, STAGE_KINDS[s.stage], s.key) for s in status.steps if s.status != "missing"
    ]
    return RunReport(**status.model_dump(), resources=resources)
