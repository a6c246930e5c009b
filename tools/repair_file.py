"""MCP tool `repair_file`."""

from __future__ import annotations

from mcp.server.mcpserver import Context
from mcp.types import InputRequiredResult

from papercoder_mcp.server.app import drive_stage
from papercoder_mcp.server.results import StageToolResult
from papercoder_mcp.stages import REPAIR_FILE
from papercoder_mcp.tools._params import STAGE_ANNOTATIONS, FilePath, Guidance, IncludeContext, RunId, Sampler

TITLE = "Repair one file from its verification findings"
ANNOTATIONS = STAGE_ANNOTATIONS


async def repair_file(
    run_id: RunId,
    path: FilePath,
    ctx: Context,
    guidance: Guidance = None,
    sampler: Sampler = "auto",
    include_context: IncludeContext = False,
) -> StageToolResult | InputRequiredResult:
    """Rewrite one file so the problems verify_repo (or check_coverage) found in it are fixed.

    Call it for each file their `next` names, with any sampler; then verify_repo again.
    """
    return await drive_stage(
        ctx,
        REPAIR_FILE,
        run_id,
        path,
        guidance=guidance,
        sampler=sampler,
        force=True,
        include_context=include_context,
    )
