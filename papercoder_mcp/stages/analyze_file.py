"""Stage 5: a detailed logic analysis of one file (all files' analyses can run in parallel)."""

from __future__ import annotations

from typing import Any

from papercoder_mcp import prompts
from papercoder_mcp.errors import StageError, ValidationFailed
from papercoder_mcp.models import plan_items
from papercoder_mcp.paths import normalize_repo_path
from papercoder_mcp.samplers.base import SampleRequest
from papercoder_mcp.stages import inputs
from papercoder_mcp.stages.base import Accepted, Stage, StageContext, StageResult, guidance_block, run_stage

MIN_ANALYSIS_CHARS = 200


def file_task_or_error(ctx: StageContext, path: str, stage: str):
    order = inputs.file_order(ctx, needed_by=stage)
    norm = normalize_repo_path(path)
    try:
        return order, order.task(norm)
    except KeyError:
        raise StageError(
            f"{norm!r} is not a file of run {ctx.run_id}; its files are: {', '.join(order.order)}"
        ) from None


class AnalyzeFile(Stage):
    name = "analyze_file"
    kind = "analysis"
    per_file = True

    def build_request(self, ctx: StageContext, key: str, guidance: str) -> SampleRequest:
        _, task = file_task_or_error(ctx, key, self.name)
        items = plan_items(inputs.plan(ctx))
        implements = [
            f"{p.item} ({items.get(p.item, '?')})" + (f": {p.how}" if p.how else "")
            for p in inputs.architecture(ctx).planned_for(task.path)
        ]
        return SampleRequest(
            stage=self.name,
            system="",
            prefix=inputs.prefix(ctx, 4, self.name),
            prompt=prompts.render(
                "analyze_file",
                path=task.path,
                purpose=task.purpose,
                logic=task.logic,
                depends_on=", ".join(task.depends_on) or "none",
                implements="; ".join(implements) or "nothing named (see its purpose)",
                guidance=guidance_block(guidance),
            ),
        )

    def accept(self, ctx: StageContext, key: str, text: str, structured: Any | None) -> Accepted:
        body = text.strip()
        if len(body) < MIN_ANALYSIS_CHARS:
            raise ValidationFailed(
                f"the analysis of {key} is too short ({len(body)} characters)",
                [f"the analysis is only {len(body)} characters; write a full analysis"],
            )
        return Accepted(content=body + "\n", format="markdown")


STAGE = AnalyzeFile()


async def analyze_file(ctx: StageContext, path: str, *, force: bool = False) -> StageResult:
    return await run_stage(STAGE, ctx, normalize_repo_path(path), force=force)
