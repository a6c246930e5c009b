"""MCP tool `write_config`."""

from __future__ import annotations

from mcp.server.mcpserver import Context
from mcp.types import InputRequiredResult

from papercoder_mcp.server.app import drive_stage
from papercoder_mcp.server.results import StageToolResult
from papercoder_mcp.stages import WRITE_CONFIG
from papercoder_mcp.tools._params import STAGE_ANNOTATIONS, Force, Guidance, IncludeContext, RunId, Sampler

TITLE = "Write config.yaml"
ANNOTATIONS = STAGE_ANNOTATIONS


async def write_config(
    run_id: RunId,
    ctx: Context,
    guidance: Guidance = None,
    sampler: Sampler = "auto",
    force: Force = False,
    include_context: IncludeContext = False,
) -> StageToolResult | InputRequiredResult:
    """Write config.yaml: the paper's values, marked defaults, null only for what the user supplies.

    Call it after order_files. Next: analyze_file for every file, or run_pipeline for the rest.
    """
    return await drive_stage(
        ctx,
        WRITE_CONFIG,
        run_id,
        guidance=guidance,
        sampler=sampler,
        force=force,
        include_context=include_context,
    )
