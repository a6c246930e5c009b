"""Evaluating a generated repository the way the field does: a Paper2Code-style judge, PaperBench rubrics."""

from __future__ import annotations

from papercoder_mcp.evaluation.grade import STAGE as RUBRIC_STAGE
from papercoder_mcp.evaluation.grade import grade_run, plan_rubric, summarize_rubric
from papercoder_mcp.evaluation.judge import STAGE as JUDGE_STAGE
from papercoder_mcp.evaluation.judge import judge_run, plan_judge, summarize_judge
from papercoder_mcp.evaluation.models import JudgeResult, RubricResult
from papercoder_mcp.evaluation.repo_context import DEFAULT_BUDGET_TOKENS
from papercoder_mcp.evaluation.rubric import TASK_CATEGORIES, aggregate, load_rubric, parse_rubric
from papercoder_mcp.stages.base import Stage

# Found by name when an answer comes back later (client sampling rounds, submit_artifact).
EVAL_STAGES: dict[str, Stage] = {s.name: s for s in (JUDGE_STAGE, RUBRIC_STAGE)}

__all__ = [
    "DEFAULT_BUDGET_TOKENS",
    "EVAL_STAGES",
    "JUDGE_STAGE",
    "RUBRIC_STAGE",
    "TASK_CATEGORIES",
    "JudgeResult",
    "RubricResult",
    "aggregate",
    "grade_run",
    "judge_run",
    "load_rubric",
    "parse_rubric",
    "plan_judge",
    "plan_rubric",
    "summarize_judge",
    "summarize_rubric",
]
