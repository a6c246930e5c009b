"""MCP tool `design_architecture`."""

from __future__ import annotations

from mcp.server.mcpserver import Context
from mcp.types import InputRequiredResult

from papercoder_mcp.server.app import drive_stage
from papercoder_mcp.server.results import StageToolResult
from papercoder_mcp.stages import DESIGN_ARCHITECTURE
from papercoder_mcp.tools._params import STAGE_ANNOTATIONS, Force, Guidance, IncludeContext, RunId, Sampler

TITLE = "Design the software architecture"
ANNOTATIONS = STAGE_ANNOTATIONS


async def design_architecture(
    run_id: RunId,
    ctx: Context,
    guidance: Guidance = None,
    sampler: Sampler = "auto",
    force: Force = False,
    include_context: IncludeContext = False,
) -> StageToolResult | InputRequiredResult:
    """Design the repository: approach, files with an entry point, mermaid diagrams, open questions.

    Call it after make_plan; next: order_files. Later stages follow it exactly (edit_artifact to fix it).
    """
    return await drive_stage(
        ctx,
        DESIGN_ARCHITECTURE,
        run_id,
        guidance=guidance,
        sampler=sampler,
        force=force,
        include_context=include_context,
    )
