"""Stage 2: the software architecture: files, class diagram, sequence diagram, open questions.

The design is reviewed against the plan before any code is written: its `plan_map` must place
every component and experiment of the plan in files, or say why it is left out, and a design
that leaves items unplaced is asked again with the list of what it missed."""

from __future__ import annotations

from typing import Any

from papercoder_mcp import prompts
from papercoder_mcp.errors import MissingInput
from papercoder_mcp.models import Architecture, plan_items
from papercoder_mcp.samplers.base import SampleRequest
from papercoder_mcp.stages import inputs
from papercoder_mcp.stages.base import StageContext, StageResult, guidance_block, run_stage
from papercoder_mcp.stages.structured import StructuredStage


class DesignArchitecture(StructuredStage):
    name = "design_architecture"
    kind = "architecture"
    model = Architecture

    def validation_context(self, ctx: StageContext) -> dict[str, Any]:
        # The design must place every component and experiment of the plan it was made from.
        try:
            return {"plan": inputs.plan(ctx)}
        except MissingInput:
            return {}  # an edit stored before its plan exists: checked when it is designed again

    def build_request(self, ctx: StageContext, key: str, guidance: str) -> SampleRequest:
        items = plan_items(inputs.plan(ctx))
        return SampleRequest(
            stage=self.name,
            system="",
            prefix=inputs.prefix(ctx, 1, self.name),
            prompt=prompts.render(
                "design_architecture",
                plan_items="\n".join(f"- {i}: {text}" for i, text in items.items()),
                schema=self.schema_text(),
                guidance=guidance_block(guidance),
            ),
            output_schema=self.schema(),
            schema_name="architecture",
        )


STAGE = DesignArchitecture()


async def design_architecture(ctx: StageContext, *, force: bool = False) -> StageResult:
    return await run_stage(STAGE, ctx, force=force)
