"""MCP tool `generate_file`."""

from __future__ import annotations

from mcp.server.mcpserver import Context
from mcp.types import InputRequiredResult

from papercoder_mcp.server.app import drive_stage
from papercoder_mcp.server.results import StageToolResult
from papercoder_mcp.stages import GENERATE_FILE
from papercoder_mcp.tools._params import (
    STAGE_ANNOTATIONS,
    FilePath,
    Force,
    Guidance,
    IncludeContext,
    RunId,
    Sampler,
)

TITLE = "Generate one file"
ANNOTATIONS = STAGE_ANNOTATIONS


async def generate_file(
    run_id: RunId,
    path: FilePath,
    ctx: Context,
    guidance: Guidance = None,
    sampler: Sampler = "auto",
    force: Force = False,
    include_context: IncludeContext = False,
) -> StageToolResult | InputRequiredResult:
    """Write the complete code of one file from its analysis and the code of its dependencies.

    Call it after analyze_file(path) and its dependencies' generate_file (get_run shows which are
    ready). Python must compile. When every file has code, call verify_repo.
    """
    return await drive_stage(
        ctx,
        GENERATE_FILE,
        run_id,
        path,
        guidance=guidance,
        sampler=sampler,
        force=force,
        include_context=include_context,
    )
