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
        Field(
            description="judge: Paper2Code-style 1-5 correctness score with critiques, averaged over samples; "
            "rubric: PaperBench-style 0/1 grading of a rubric's requirements, aggregated to a percent"
        ),
    ] = "judge",
    samples: Annotated[int, Field(ge=1, le=32, description="judge: independent samples to average")] = 8,
    reference_dir: Annotated[
        str | None,
        Field(description="judge: a directory with the authors' reference implementation (reference-based)"),
    ] = None,
    rubric_path: Annotated[
        str | None, Field(description="rubric: path to a PaperBench rubric.json (required in rubric mode)")
    ] = None,
    categories: Annotated[
        list[str] | None,
        Field(
            description="rubric: task categories to grade (Code Development, Code Execution, Result "
            "Analysis); default Code Development, as in PaperBench Code-Dev"
        ),
    ] = None,
    batch_size: Annotated[int, Field(ge=1, le=50, description="rubric: requirements graded per call")] = 10,
    budget_tokens: Annotated[
        int,
        Field(
            ge=1_000,
            description="the most repository tokens put in the prompt; the least relevant files beyond it "
            "are left out and reported",
        ),
    ] = DEFAULT_BUDGET_TOKENS,
    sampler: Sampler = "auto",
    force: Annotated[
        bool, Field(description="sample every part again even if stored for the same inputs")
    ] = False,
    include_context: IncludeContext = False,
    max_cost_usd: Annotated[
        float | None,
        Field(
            ge=0,
            description="stop before a call could take this evaluation's spending past this (USD; 0: spend "
            "nothing); needs a model with a known price",
        ),
    ] = None,
) -> EvaluationToolResult | InputRequiredResult:
    """Score a run's generated repository against its paper, the two ways the field does.

    Call it after the run is complete (run_pipeline). mode "judge" asks a model `samples` times to list
    the paper's key components, check them in the code, write critiques tagged high/medium/low, and
    score correctness 1-5; it returns the mean and spread. mode "rubric" grades every requirement of
    the chosen categories of a PaperBench rubric 0 or 1 with a justification citing files and lines,
    and aggregates them by weight to a replication score in percent (also per top-level node).
    Results are stored and readable at papercoder://runs/{run_id}/evaluation/judge (or /rubric);
    parts already stored for the same inputs are reused. In handoff mode it returns one handoff per
    sample or batch: answer each with submit_artifact, then call evaluate_repo again with the same
    arguments to get the aggregate.
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
