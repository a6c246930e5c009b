"""MCP tool `analyze_file`."""

from __future__ import annotations

from mcp.server.mcpserver import Context
from mcp.types import InputRequiredResult

from papercoder_mcp.server.app import drive_stage
from papercoder_mcp.server.results import StageToolResult
from papercoder_mcp.stages import ANALYZE_FILE
from papercoder_mcp.tools._params import (
    STAGE_ANNOTATIONS,
    FilePath,
    Force,
    Guidance,
    IncludeContext,
    RunId,
    Sampler,
)

TITLE = "Analyse one file"
ANNOTATIONS = STAGE_ANNOTATIONS


async def analyze_file(
    run_id: RunId,
    path: FilePath,
    ctx: Context,
    guidance: Guidance = None,
    sampler: Sampler = "auto",
    force: Force = False,
    include_context: IncludeContext = False,
) -> StageToolResult | InputRequiredResult:
    """Write the logic analysis of one file: classes, functions, the paper's equations, config keys.

    Call it for every file after write_config (they are independent); next: generate_file.
    """
    return await drive_stage(
        ctx,
        ANALYZE_FILE,
        run_id,
        path,
        guidance=guidance,
        sampler=sampler,
        force=force,
        include_context=include_context,
    )
