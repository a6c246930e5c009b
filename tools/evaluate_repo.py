"""MCP tool `evaluate_repo`."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from mcp.types import InputRequiredResult
from pydantic import Field

from papercoder_mcp.evaluation import EVAL_STAGES
from papercoder_mcp.evaluation.drive import EvalRequest, EvaluationToolResult, drive_evaluation
from papercoder_mcp.evaluation.repo_context import DEFAULT_BUDGET_TOKENS
from papercoder_mcp.server.client_sampling import EXTRA_STAGES
from papercoder_mcp.tools._params import STAGE_ANNOTATIONS, IncludeContext, RunId, Sampler

TITLE = "Evaluate the generated repository"
ANNOTATIONS = STAGE_ANNOTATIONS

# Answers to judge samples and rubric batches come back through client sampling and submit_artifact.
EXTRA_STAGES.update(EVAL_STAGES)


async def evaluate_repo(
    run_id: RunId,
    ctx: Context,
    mode: Annotated[
        Literal["judge", "rubric"],
        Field(description="judge: Paper2Code-style 1-5 score; rubric: PaperBench-style 0/1 requirements"),
    ] = "judge",
    samples: Annotated[int, Field(ge=1, le=32, description="judge: independent samples")] = 8,
    reference_dir: Annotated[
        str | None, Field(description="judge: the authors' reference implementation, to compare with")
    ] = None,
    rubric_path: Annotated[
        str | None, Field(description="rubric: a PaperBench rubric.json (required)")
    ] = None,
    categories: Annotated[
        list[str] | None,
        Field(description="rubric: task categories to grade (default Code Development)"),
    ] = None,
    batch_size: Annotated[int, Field(ge=1, le=50, description="rubric: requirements per call")] = 10,
    budget_tokens: Annotated[
        int, Field(ge=1_000, description="most repository tokens in the prompt (the rest are named)")
    ] = DEFAULT_BUDGET_TOKENS,
    sampler: Sampler = "auto",
    force: Annotated[bool, Field(description="grade every part again, even if stored")] = False,
    include_context: IncludeContext = False,
    max_cost_usd: Annotated[
        float | None, Field(ge=0, description="cap on this evaluation's spending, USD (0: none)")
    ] = None,
) -> EvaluationToolResult | InputRequiredResult:
    """Score a verified run's repository against its paper by reading the code (nothing is executed).

    judge: critiques by severity and a 1-5 correctness score, `samples` times. rubric: each requirement
    of a PaperBench rubric's categories graded 0/1 with `path:line` evidence (checked) into a weighted
    coverage percent.
    Handoff: answer each with submit_artifact, then call evaluate_repo again with the same arguments.
    """
    req = EvalRequest(
        mode=mode,
        samples=samples,
        reference_dir=reference_dir,
        rubric_path=rubric_path,
        categories=categories,
        batch_size=batch_size,
        budget_tokens=budget_tokens,
        force=force,
        max_cost_usd=max_cost_usd,
    )
    return await drive_evaluation(ctx, run_id, req, sampler=sampler, include_context=include_context)
