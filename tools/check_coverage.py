"""MCP tool `check_coverage`."""

from __future__ import annotations

from mcp.server.mcpserver import Context
from mcp.types import InputRequiredResult

from papercoder_mcp.server.app import app_of, drive_stage
from papercoder_mcp.server.results import StageToolResult
from papercoder_mcp.stages import CHECK_COVERAGE
from papercoder_mcp.tools._params import STAGE_ANNOTATIONS, Force, Guidance, IncludeContext, RunId, Sampler

TITLE = "Map the paper's components and results to the code"
ANNOTATIONS = STAGE_ANNOTATIONS


async def check_coverage(
    run_id: RunId,
    ctx: Context,
    guidance: Guidance = None,
    sampler: Sampler = "auto",
    force: Force = False,
    include_context: IncludeContext = False,
) -> StageToolResult | InputRequiredResult:
    """Map the paper's components and results (tables, figures, ablations) to the file, symbol and
    command that implement them, checked against the code. Call it once every file has code.

    Report at papercoder://runs/{run_id}/coverage: implemented, not_implemented (listed in the exported
    README), or partial, unused, not_found (repair_file the files named in `warnings`).
    """
    result = await drive_stage(
        ctx,
        CHECK_COVERAGE,
        run_id,
        guidance=guidance,
        sampler=sampler,
        force=force,
        include_context=include_context,
    )
    if isinstance(result, StageToolResult) and result.status != "handoff":
        # What the map found missing in existing files is repair work: offer it first.
        art = app_of(ctx).store.find_artifact(run_id, "coverage")
        files = art.metadata.get("repair_files", []) if art is not None else []
        result.next = [f"repair_file(run_id={run_id!r}, path={p!r})" for p in files] + result.next
    return result
