"""Self-refinement: critique, then an improved version kept only when it validates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from papercoder_mcp.pipeline.orchestrator import PipelineOptions, run_pipeline
from papercoder_mcp.samplers.base import Completion, SampleRequest
from papercoder_mcp.stages import MAKE_PLAN, design_architecture, make_plan
from papercoder_mcp.stages.refine import refine

from fake_model import FakeSampler
from pipeline_helpers import new_run

pytestmark = pytest.mark.anyio


class Improving(FakeSampler):
    """Answers the improve turn with a visibly improved plan (or garbage, when told to)."""

    broken_improvement: bool = False

    async def sample(self, request: SampleRequest) -> Completion:
        completion = await super().sample(request)
        if any("reviewer critiqued" in t.text for t in request.followups):
            if self.broken_improvement:
                return completion.model_copy(update={"text": "no JSON here", "structured": None})
            if request.stage == "improve" and "overall plan" in request.prompt:
                plan = json.loads(completion.text.split("```json\n", 1)[1].rsplit("```", 1)[0])
                plan["summary"] = "Improved after critique."
                return completion.model_copy(update={"text": json.dumps(plan), "structured": None})
        return completion


class TestRefine:
    async def test_plan_is_critiqued_then_replaced_by_the_improved_version(self, tmp_path: Path) -> None:
        sampler = Improving()
        ctx = new_run(tmp_path, sampler)
        await make_plan(ctx)
        result = await refine(ctx, "plan")
        assert result.improved and result.score == 3 and result.problems == 1
        plan = ctx.store.get_artifact(ctx.run_id, "plan")
        assert plan.version == 2 and plan.metadata["refined"] is True
        assert json.loads(plan.content)["summary"] == "Improved after critique."
        assert MAKE_PLAN.is_fresh(ctx)  # the improved plan counts as done, not stale
        critique = ctx.store.get_artifact(ctx.run_id, "critique", "plan")
        assert json.loads(critique.content)["score"] == 3
        assert [c.stage for c in ctx.store.calls(ctx.run_id)] == ["make_plan", "critique", "improve"]
        # The critique reads the plan stage's cached prefix.
        assert sampler.history[1].prefix == sampler.history[0].prefix
        again = await refine(ctx, "plan")
        assert again.skipped and len(sampler.history) == 3
        await design_architecture(ctx)
        assert "Improved after critique." in sampler.history[-1].user_text()

    async def test_an_improvement_that_does_not_validate_keeps_the_original(self, tmp_path: Path) -> None:
        sampler = Improving()
        sampler.broken_improvement = True
        ctx = new_run(tmp_path, sampler)
        await make_plan(ctx)
        result = await refine(ctx, "plan")
        assert not result.improved and "original is kept" in result.note
        assert ctx.store.get_artifact(ctx.run_id, "plan").version == 1
        improve_calls = [c for c in ctx.store.calls(ctx.run_id) if c.stage == "improve"]
        assert len(improve_calls) == 3 and all(c.error for c in improve_calls)

    async def test_pipeline_with_refine_refines_every_planning_artifact_and_analysis(
        self, tmp_path: Path
    ) -> None:
        sampler = Improving()
        ctx = new_run(tmp_path, sampler)
        result = await run_pipeline(ctx.store, ctx.run_id, sampler, PipelineOptions(refine=True))
        assert result.status == "verified", result.message
        refined = sorted(s.key for s in result.steps if s.stage == "refine")
        assert refined[:4] == [
            "analysis:dataset.py",
            "analysis:evaluation.py",
            "analysis:main.py",
            "analysis:model.py",
        ]
        assert {"plan", "architecture", "file_order", "config"} <= set(refined)
        calls = len(sampler.history)
        again = await run_pipeline(ctx.store, ctx.run_id, sampler, PipelineOptions(refine=True))
        assert again.status == "verified" and len(sampler.history) == calls  # nothing refined twice
