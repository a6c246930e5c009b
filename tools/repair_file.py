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
    """Rewrite one file so that the problems verify_repo found in it are fixed.

    Call it after verify_repo, for each file its `next` names. The prompt holds the findings, the file
    and the interfaces it imports; the answer is validated like generate_file's and stored as a new
    version. Then call verify_repo again. Works with any sampler, handoff included.
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
