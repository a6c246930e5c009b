"""Stage 3: packages, per-file logic and dependencies, and a valid dependency order."""

from __future__ import annotations

from typing import Any

from papercoder_mcp import prompts
from papercoder_mcp.models import FileOrder
from papercoder_mcp.samplers.base import SampleRequest
from papercoder_mcp.stages import inputs
from papercoder_mcp.stages.base import StageContext, StageResult, guidance_block, run_stage
from papercoder_mcp.stages.structured import StructuredStage


class OrderFiles(StructuredStage):
    name = "order_files"
    kind = "file_order"
    model = FileOrder

    def validation_context(self, ctx: StageContext) -> dict[str, Any]:
        # Files must be exactly the architecture's: no unknown files, none left out.
        return {"architecture": inputs.architecture(ctx)}

    def build_request(self, ctx: StageContext, key: str, guidance: str) -> SampleRequest:
        return SampleRequest(
            stage=self.name,
            system="",
            prefix=inputs.prefix(ctx, 2, self.name),
            prompt=prompts.render(
                "order_files", schema=self.schema_text(), guidance=guidance_block(guidance)
            ),
            output_schema=self.schema(),
            schema_name="file_order",
        )


STAGE = OrderFiles()


async def order_files(ctx: StageContext, *, force: bool = False) -> StageResult:
    return await run_stage(STAGE, ctx, force=force)
