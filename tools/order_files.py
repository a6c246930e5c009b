"""MCP tool `order_files`."""

from __future__ import annotations

from mcp.server.mcpserver import Context
from mcp.types import InputRequiredResult

from papercoder_mcp.server.app import drive_stage
from papercoder_mcp.server.results import StageToolResult
from papercoder_mcp.stages import ORDER_FILES
from papercoder_mcp.tools._params import STAGE_ANNOTATIONS, Force, Guidance, IncludeContext, RunId, Sampler

TITLE = "Order the files by dependency"
ANNOTATIONS = STAGE_ANNOTATIONS


async def order_files(
    run_id: RunId,
    ctx: Context,
    guidance: Guidance = None,
    sampler: Sampler = "auto",
    force: Force = False,
    include_context: IncludeContext = False,
) -> StageToolResult | InputRequiredResult:
    """List the packages, each file's logic and dependencies, and a dependency order of the files (no cycles).

    Call it after design_architecture. Returns the file order (JSON); next: write_config.
    """
    return await drive_stage(
        ctx,
        ORDER_FILES,
        run_id,
        guidance=guidance,
        sampler=sampler,
        force=force,
        include_context=include_context,
    )
