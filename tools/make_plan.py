"""MCP tool `make_plan`."""

from __future__ import annotations

from mcp.server.mcpserver import Context
from mcp.types import InputRequiredResult

from papercoder_mcp.server.app import drive_stage
from papercoder_mcp.server.results import StageToolResult
from papercoder_mcp.stages import MAKE_PLAN
from papercoder_mcp.tools._params import STAGE_ANNOTATIONS, Force, Guidance, IncludeContext, RunId, Sampler

TITLE = "Make the overall plan"
ANNOTATIONS = STAGE_ANNOTATIONS


async def make_plan(
    run_id: RunId,
    ctx: Context,
    guidance: Guidance = None,
    sampler: Sampler = "auto",
    force: Force = False,
    include_context: IncludeContext = False,
) -> StageToolResult | InputRequiredResult:
    """Write the paper's implementation plan: methodology, datasets, settings, hyperparameters, metrics,
    experiments, and what is unclear. Call it first after parse_paper; next: design_architecture.
    """
    return await drive_stage(
        ctx,
        MAKE_PLAN,
        run_id,
        guidance=guidance,
        sampler=sampler,
        force=force,
        include_context=include_context,
    )
