"""Stage 2: the software architecture: files, class diagram, sequence diagram, open questions."""

from __future__ import annotations

from papercoder_mcp import prompts
from papercoder_mcp.models import Architecture
from papercoder_mcp.samplers.base import SampleRequest
from papercoder_mcp.stages import inputs
from papercoder_mcp.stages.base import StageContext, StageResult, guidance_block, run_stage
from papercoder_mcp.stages.structured import StructuredStage


class DesignArchitecture(StructuredStage):
    name = "design_architecture"
    kind = "architecture"
    model = Architecture

    def build_request(self, ctx: StageContext, key: str, guidance: str) -> SampleRequest:
        return SampleRequest(
            stage=self.name,
            system="",
            prefix=inputs.prefix(ctx, 1, self.name),
            prompt=prompts.render(
                "design_architecture", schema=self.schema_text(), guidance=guidance_block(guidance)
            ),
            output_schema=self.schema(),
            schema_name="architecture",
        )


STAGE = DesignArchitecture()


async def design_architecture(ctx: StageContext, *, force: bool = False) -> StageResult:
    return await run_stage(STAGE, ctx, force=force)
