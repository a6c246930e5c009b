"""MCP tool `run_pipeline`."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.types import InputRequiredResult
from pydantic import Field

from papercoder_mcp.server.app import drive_pipeline
from papercoder_mcp.server.results import PipelineToolResult
from papercoder_mcp.tools._lease import run_lease
from papercoder_mcp.tools._params import STAGE_ANNOTATIONS, IncludeContext, RunId, Sampler

TITLE = "Run the whole pipeline"
ANNOTATIONS = STAGE_ANNOTATIONS


async def run_pipeline(
    run_id: RunId,
    ctx: Context,
    sampler: Sampler = "auto",
    concurrency: Annotated[
        int, Field(ge=1, le=16, description="model calls in flight at once (API only)")
    ] = 4,
    max_cost_usd: Annotated[
        float | None,
        Field(
            ge=0,
            description="cap on the run's spending, USD (0: none); needs a known price",
        ),
    ] = None,
    include_context: IncludeContext = False,
    refine: Annotated[
        bool, Field(description="critique and improve plan, design, file order, config and analyses first")
    ] = False,
    smoke: Annotated[bool, Field(description="also run the tests and smoke mode in the sandbox")] = False,
) -> PipelineToolResult | InputRequiredResult:
    """Run every remaining step: plan, architecture, file order, config, analyses, code, verification
    and repairs, the same way for every model source.

    Resumable: fresh steps are reused. "partial": call it again. Handoff: answer each returned step
    with submit_artifact, then call it again. One pipeline at a time per run. When "verified",
    call export_repo.
    """
    async with run_lease(ctx, run_id):
        return await drive_pipeline(
            ctx,
            run_id,
            sampler=sampler,
            concurrency=concurrency,
            max_cost_usd=max_cost_usd,
            include_context=include_context,
            refine=refine,
            smoke=smoke,
        )
