"""The orchestrator: DAG order, concurrency, resume without paying twice, budget, truthful status."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from papercoder_mcp.pipeline.orchestrator import PipelineOptions, ProgressEvent, run_pipeline
from papercoder_mcp.pipeline.status import run_status
from papercoder_mcp.samplers.base import Completion, SampleRequest

from fake_model import FakeModel, FakeSampler
from pipeline_helpers import new_run

pytestmark = pytest.mark.anyio


class TestFullRun:
    async def test_every_step_runs_once_and_status_is_complete(self, tmp_path: Path) -> None:
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        events: list[ProgressEvent] = []
        result = await run_pipeline(ctx.store, ctx.run_id, sampler, progress=events.append)
        assert result.status == "verified", result.message
        # Four planning calls, an analysis and a generation per file (tests/ included), the coverage check.
        assert len(sampler.history) == 4 + 2 * 7 + 1
        assert sampler.history[-1].stage == "check_coverage"  # after verification, before export
        # 19 model calls and the verification of the result.
        assert [e.kind for e in events].count("step_finished") == 20
        assert events[-1].kind == "run_finished" and events[-1].done == events[-1].total == 20
        # The total is unknown (0) until the file order says how many files there are, then fixed.
        totals = [e.total for e in events]
        assert totals[0] == 0 and set(totals) == {0, 20}
        first_file = next(i for i, e in enumerate(events) if e.stage == "analyze_file")
        assert totals.index(20) <= first_file and totals[first_file - 1] == 0
        # A resumed run knows it from the start.
        again: list[ProgressEvent] = []
        await run_pipeline(ctx.store, ctx.run_id, sampler, progress=again.append)
        assert {e.total for e in again} == {20}
        status = run_status(ctx.store, ctx.run_id)
        assert status.complete and all(s.status == "done" for s in status.steps)
        assert ctx.store.get_run(ctx.run_id).status == "verified"

    async def test_files_are_generated_after_their_dependencies(self, tmp_path: Path) -> None:
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        await run_pipeline(ctx.store, ctx.run_id, sampler, PipelineOptions(concurrency=3))
        generated = [r.key for r in sampler.history if r.stage == "generate_file"]
        for path, deps in FakeModel().files.items():
            assert all(generated.index(d) < generated.index(path) for d in deps)

    async def test_concurrency_is_bounded_and_used(self, tmp_path: Path) -> None:
        in_flight = 0
        peak = 0

        class Slow(FakeSampler):
            async def sample(self, request: SampleRequest) -> Completion:
                nonlocal in_flight, peak
                in_flight += 1
                peak = max(peak, in_flight)
                await anyio.sleep(0.01)
                try:
                    return await super().sample(request)
                finally:
                    in_flight -= 1

        sampler = Slow()
        ctx = new_run(tmp_path, sampler)
        await run_pipeline(ctx.store, ctx.run_id, sampler, PipelineOptions(concurrency=3))
        assert peak == 3


class TestResume:
    async def test_a_second_run_makes_no_calls(self, tmp_path: Path) -> None:
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        await run_pipeline(ctx.store, ctx.run_id, sampler)
        n = len(sampler.history)
        result = await run_pipeline(ctx.store, ctx.run_id, sampler)
        assert result.status == "verified"
        assert len(sampler.history) == n
        assert {s.state for s in result.steps} == {"reused"}

    async def test_a_failed_file_blocks_its_dependents_and_resume_finishes(self, tmp_path: Path) -> None:
        class FailsModel(FakeSampler):
            fail_model = True

            async def sample(self, request: SampleRequest) -> Completion:
                if self.fail_model and request.stage == "generate_file" and request.key == "model.py":
                    self.history.append(request)
                    return Completion(
                        text="I cannot do that.", sampler="fake", model="fake-model", cost_usd=0.0
                    )
                return await super().sample(request)

        sampler = FailsModel()
        ctx = new_run(tmp_path, sampler)
        result = await run_pipeline(ctx.store, ctx.run_id, sampler)
        assert result.status == "failed"
        states = {(s.stage, s.key): s.state for s in result.steps}
        assert states[("generate_file", "model.py")] == "failed"
        assert states[("generate_file", "trainer.py")] == "blocked"
        assert states[("generate_file", "evaluation.py")] == "blocked"
        assert states[("generate_file", "main.py")] == "blocked"
        assert states[("generate_file", "tests/test_model.py")] == "blocked"
        assert states[("generate_file", "dataset.py")] == "done"
        assert "run the pipeline again" in result.message.lower() and "--" not in result.message
        status = run_status(ctx.store, ctx.run_id)
        assert not status.complete and status.next_step == "generate_file('model.py')"
        calls_before = len(sampler.history)
        sampler.fail_model = False
        again = await run_pipeline(ctx.store, ctx.run_id, sampler)
        assert again.status == "verified"
        redone = [(r.stage, r.key) for r in sampler.history[calls_before:]]
        # Only model.py and the files generated after it (they read its code or its interface), then
        # the coverage check; every other finished call is reused.
        assert sorted(redone) == [
            ("check_coverage", ""),
            ("generate_file", "evaluation.py"),
            ("generate_file", "main.py"),
            ("generate_file", "model.py"),
            ("generate_file", "tests/test_model.py"),
            ("generate_file", "trainer.py"),
        ]

    async def test_budget_stops_before_the_call_that_would_cross_it(self, tmp_path: Path) -> None:
        class Priced(FakeSampler):
            async def sample(self, request: SampleRequest) -> Completion:
                c = await super().sample(request)
                return c.model_copy(update={"cost_usd": 0.05})

        sampler = Priced(model="claude-sonnet-5-5")
        ctx = new_run(tmp_path, sampler)
        result = await run_pipeline(
            ctx.store, ctx.run_id, sampler, PipelineOptions(max_cost_usd=0.12, concurrency=1)
        )
        assert result.status == "budget_exceeded"
        assert result.total_cost_usd <= 0.12
        assert any(s.state == "budget" for s in result.steps)
        assert "raise the budget" in result.message


class TestAnUnreadableDesign:
    async def test_a_design_stored_before_its_rules_names_itself_as_the_next_step(
        self, tmp_path: Path
    ) -> None:
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        await run_pipeline(ctx.store, ctx.run_id, sampler)
        arch = json.loads(ctx.store.get_artifact(ctx.run_id, "architecture").content)
        del arch["smoke_command"]  # as designs were stored before the smoke mode was required
        current = ctx.store.get_artifact(ctx.run_id, "architecture")
        ctx.store.put_artifact(
            ctx.run_id, "architecture", json.dumps(arch), format="json", input_hash=current.input_hash
        )
        status = run_status(ctx.store, ctx.run_id)
        assert status.complete is False
        assert status.next_step == "design_architecture()"  # not order_files(), which is done
        assert any(
            "the stored architecture (version 2)" in p and "smoke_command" in p for p in status.problems
        )

    async def test_a_run_completed_by_a_later_answer_says_verified(self, tmp_path: Path) -> None:
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        await run_pipeline(ctx.store, ctx.run_id, sampler)
        # The pipeline call that handed out the last step left the lifecycle at needs-input.
        ctx.store.update_run(ctx.run_id, status="needs-input")
        status = run_status(ctx.store, ctx.run_id)
        assert status.complete and status.status == "verified"
