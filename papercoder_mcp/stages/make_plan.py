"""Stage 1: the overall implementation plan from the paper."""

from __future__ import annotations

from papercoder_mcp import prompts
from papercoder_mcp.models import Plan
from papercoder_mcp.samplers.base import SampleRequest
from papercoder_mcp.stages import inputs
from papercoder_mcp.stages.base import StageContext, StageResult, guidance_block, run_stage
from papercoder_mcp.stages.structured import StructuredStage


class MakePlan(StructuredStage):
    name = "make_plan"
    kind = "plan"
    model = Plan

    def build_request(self, ctx: StageContext, key: str, guidance: str) -> SampleRequest:
        return SampleRequest(
            stage=self.name,
            system="",
            prefix=inputs.prefix(ctx, 0, self.name),
            prompt=prompts.render("make_plan", schema=self.schema_text(), guidance=guidance_block(guidance)),
            output_schema=self.schema(),
            schema_name="plan",
        )


STAGE = MakePlan()


async def make_plan(ctx: StageContext, *, force: bool = False) -> StageResult:
    return await run_stage(STAGE, ctx, force=force)
