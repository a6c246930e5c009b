"""The repair loop: verification findings go back to the model, file by file, until clean or stuck."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from papercoder_mcp.pipeline.orchestrator import PipelineOptions, run_pipeline
from papercoder_mcp.pipeline.repair import verify_and_repair
from papercoder_mcp.samplers.base import Completion, SampleRequest
from papercoder_mcp.stages import GENERATE_FILE
from papercoder_mcp.verify.models import Verification

from fake_model import FakeSampler, stage_of
from pipeline_helpers import new_run

pytestmark = pytest.mark.anyio

BROKEN_TRAINER = '''"""trainer.py with a planted defect."""

from model import model_step, no_such_function
from dataset import dataset_step


def trainer_step() -> int:
    return model_step() + dataset_step() + no_such_function()
'''


@dataclass
class Planted(FakeSampler):
    """Generates a broken trainer.py; repairs it (or, when stubborn, repeats the same broken file)."""

    stubborn: bool = False

    async def sample(self, request: SampleRequest) -> Completion:
        stage = stage_of(request.prompt)
        if request.key == "trainer.py" and (
            stage == "generate_file" or (stage == "repair_file" and self.stubborn)
        ):
            self.history.append(request)
            return Completion(
                text=f"```python\n{BROKEN_TRAINER}```", sampler=self.name, model=self.model, cost_usd=0.0
            )
        return await super().sample(request)


@dataclass
class KeepsIt(Planted):
    """Answers every repair of trainer.py with UNCHANGED (as a model told a warning may stay would)."""

    async def sample(self, request: SampleRequest) -> Completion:
        if request.key == "trainer.py" and stage_of(request.prompt) == "repair_file":
            self.history.append(request)
            return Completion(text="UNCHANGED", sampler=self.name, model=self.model, cost_usd=0.0)
        return await super().sample(request)


# A sound trainer.py with one empty function: a placeholder warning, which a file may leave as it is.
WARNED_TRAINER = """\"\"\"trainer.py with a hook left empty on purpose.\"\"\"

from model import model_step
from dataset import dataset_step


def trainer_step() -> int:
    return model_step() + dataset_step()


def _on_epoch_end() -> None:
    pass
"""


@dataclass
class WarnedAndKept(FakeSampler):
    """Writes WARNED_TRAINER, and answers its repair with UNCHANGED (the hook is meant to be empty)."""

    async def sample(self, request: SampleRequest) -> Completion:
        stage = stage_of(request.prompt)
        if request.key == "trainer.py" and stage in ("generate_file", "repair_file"):
            self.history.append(request)
            text = f"```python\n{WARNED_TRAINER}```" if stage == "generate_file" else "UNCHANGED"
            return Completion(text=text, sampler=self.name, model=self.model, cost_usd=0.0)
        return await super().sample(request)


async def generated(tmp_path: Path, sampler: FakeSampler):  # type: ignore[no-untyped-def]
    ctx = new_run(tmp_path, sampler)
    result = await run_pipeline(ctx.store, ctx.run_id, sampler, PipelineOptions(verify=False))
    assert result.status == "unverified"
    return ctx


class TestRepairLoop:
    async def test_a_planted_defect_is_found_repaired_and_dependents_kept(self, tmp_path: Path) -> None:
        sampler = Planted()
        ctx = await generated(tmp_path, sampler)
        report = await verify_and_repair(ctx)
        assert report.stopped == "clean", report.message
        assert [r.files for r in report.rounds] == [["trainer.py"]]
        assert report.rounds[0].problems_before >= 1 and report.rounds[0].problems_after == 0
        history = ctx.store.history(ctx.run_id, "code", "trainer.py")
        assert [h.metadata.get("repair", False) for h in history] == [False, True]
        assert "no_such_function" not in history[-1].content
        # The repair prompt carried the finding with its line.
        repair_prompt = next(r for r in sampler.history if r.stage == "repair_file").prompt
        assert "line 3" in repair_prompt and "no_such_function" in repair_prompt
        # main.py imports trainer.py: carried over (same code) so it is not regenerated.
        main = ctx.store.get_artifact(ctx.run_id, "code", "main.py")
        assert main.metadata["source"] == "carried" and GENERATE_FILE.is_fresh(ctx, "main.py")
        verification = Verification.model_validate_json(
            ctx.store.get_artifact(ctx.run_id, "verification").content
        )
        assert verification.passed
        calls = len(sampler.history)
        again = await run_pipeline(ctx.store, ctx.run_id, sampler, PipelineOptions(verify=False))
        assert again.status == "verified" and len(sampler.history) == calls

    async def test_the_loop_stops_when_a_round_fixes_nothing(self, tmp_path: Path) -> None:
        sampler = Planted(stubborn=True)
        ctx = await generated(tmp_path, sampler)
        report = await verify_and_repair(ctx, rounds=3)
        assert report.stopped == "no_progress"
        assert len(report.rounds) == 1
        assert not report.verification.passed

    async def test_the_pipeline_verifies_and_reports_remaining_errors_truthfully(
        self, tmp_path: Path
    ) -> None:
        sampler = Planted(stubborn=True)
        ctx = new_run(tmp_path, sampler)
        result = await run_pipeline(ctx.store, ctx.run_id, sampler, PipelineOptions(repair_rounds=2))
        assert result.status == "failed"
        verify = next(s for s in result.steps if s.stage == "verify")
        assert verify.state == "failed" and "trainer.py:3 undefined_name" in verify.message

    async def test_a_clean_repository_needs_no_repair_call(self, tmp_path: Path) -> None:
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        result = await run_pipeline(ctx.store, ctx.run_id, sampler)
        assert result.status == "verified", result.message
        assert not any(r.stage == "repair_file" for r in sampler.history)
        assert any(s.stage == "verify" and s.state == "done" for s in result.steps)


class TestRequirements:
    async def test_a_missing_requirement_is_added_without_a_model_call(self, tmp_path: Path) -> None:
        sampler = FakeSampler()
        ctx = await generated(tmp_path, sampler)
        code = ctx.store.get_artifact(ctx.run_id, "code", "main.py").content
        from papercoder_mcp.pipeline.edits import edit_artifact

        edit_artifact(ctx.store, ctx.run_id, "code", "import numpy as np\n" + code, "main.py")
        calls = len(sampler.history)
        report = await verify_and_repair(ctx)
        assert report.stopped == "clean" and report.verification.passed
        assert len(sampler.history) == calls
        requirements = ctx.store.get_artifact(ctx.run_id, "requirements").content
        assert "numpy  # imported by the generated code" in requirements and "pyyaml>=6" in requirements


class TestVerificationKey:
    async def test_a_stored_result_is_reused_only_for_exactly_what_it_checked(self, tmp_path: Path) -> None:
        from papercoder_mcp.pipeline.repair import verify_and_store

        ctx = await generated(tmp_path, FakeSampler())
        plain = verify_and_store(ctx)
        first = ctx.store.get_artifact(ctx.run_id, "verification")
        assert plain.smoke is None and verify_and_store(ctx) == plain
        assert ctx.store.get_artifact(ctx.run_id, "verification").version == first.version  # reused
        smoked = verify_and_store(ctx, smoke=True)
        assert smoked.smoke is not None
        # A plain check after a smoke run is a plain check, not the stored smoke result.
        again = verify_and_store(ctx)
        assert again.smoke is None
        latest = ctx.store.get_artifact(ctx.run_id, "verification")
        assert latest.version == first.version + 2
        assert (
            latest.metadata["checked"]["smoke"] is None
            and latest.metadata["checked"]["files"]["code:main.py"] == 1
        )

    async def test_repair_refuses_findings_older_than_the_file(self, tmp_path: Path) -> None:
        from papercoder_mcp.errors import MissingInput
        from papercoder_mcp.pipeline.edits import edit_artifact
        from papercoder_mcp.pipeline.repair import verify_and_store
        from papercoder_mcp.stages import REPAIR_FILE

        sampler = Planted()
        ctx = await generated(tmp_path, sampler)
        verify_and_store(ctx)
        assert "no_such_function" in REPAIR_FILE.prepare(ctx, "trainer.py").request.prompt
        code = ctx.store.get_artifact(ctx.run_id, "code", "trainer.py").content
        edit_artifact(ctx.store, ctx.run_id, "code", code.replace("no_such_function()", "0"), "trainer.py")
        with pytest.raises(MissingInput, match="older than its code"):
            REPAIR_FILE.prepare(ctx, "trainer.py")

    async def test_a_code_edit_does_not_make_the_files_after_it_be_generated_again(
        self, tmp_path: Path
    ) -> None:
        from papercoder_mcp.pipeline.edits import edit_artifact
        from papercoder_mcp.stages import inputs

        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        assert (await run_pipeline(ctx.store, ctx.run_id, sampler)).status == "verified"
        order = inputs.file_order(ctx)
        after = [p for p in order.order if "utils.py" in order.written_before(p)]
        assert after  # utils.py is read by the files generated after it
        code = ctx.store.get_artifact(ctx.run_id, "code", "utils.py").content
        edit_artifact(ctx.store, ctx.run_id, "code", code + "\n\nSEED = 0\n", "utils.py")
        assert all(GENERATE_FILE.is_fresh(ctx, p) for p in after)
        before = len(sampler.history)
        assert (await run_pipeline(ctx.store, ctx.run_id, sampler)).status == "verified"
        assert "generate_file" not in [r.stage for r in sampler.history[before:]]
        assert "SEED = 0" in ctx.store.get_artifact(ctx.run_id, "code", "utils.py").content

    async def test_an_unchanged_answer_keeps_the_file_and_is_not_checked_again(self, tmp_path: Path) -> None:
        sampler = KeepsIt()
        ctx = await generated(tmp_path, sampler)
        before = ctx.store.get_artifact(ctx.run_id, "code", "trainer.py")
        report = await verify_and_repair(ctx, rounds=3)
        assert report.stopped == "no_progress", report.message
        assert [r.stage for r in sampler.history].count("repair_file") == 1  # asked once, not every round
        after = ctx.store.get_artifact(ctx.run_id, "code", "trainer.py")
        assert after.content == before.content and after.metadata["unchanged"] is True
        # Verifying the same code again would find the same: the result is carried, not recomputed.
        latest = ctx.store.get_artifact(ctx.run_id, "verification")
        assert latest.metadata["carried_from"] == latest.version - 1 and latest.metadata["round"] == 1
        assert "no_such_function" in report.verification.findings[0].message

    async def test_a_warning_the_model_reviewed_and_kept_ends_the_loop_clean(self, tmp_path: Path) -> None:
        # Seen: UNCHANGED to an unwired warning whose message says the file may stay as it is, and
        # the loop then said "repair round 1 fixed nothing (1 problem(s) remain); stopping".
        sampler = WarnedAndKept()
        ctx = await generated(tmp_path, sampler)
        report = await verify_and_repair(ctx, rounds=3)
        assert report.stopped == "clean", report.message
        assert [r.stage for r in sampler.history].count("repair_file") == 1
        assert [f.kind for f in report.verification.findings if f.file == "trainer.py"] == ["placeholder"]
        assert "1 warning" in report.message and "left as it is" in report.message
        kept = ctx.store.get_artifact(ctx.run_id, "code", "trainer.py").metadata
        # What the answer saw is recorded: only those warnings count as answered, not later ones.
        assert [line.split("]")[0] for line in kept["answered"]] == ["- line 11: [placeholder, warning"]
        # Answered: asking again hands out nothing, and a later call does not repair it again.
        again = await verify_and_repair(ctx, rounds=3)
        assert again.stopped == "clean" and [r.stage for r in sampler.history].count("repair_file") == 1

    async def test_repair_rounds_are_counted_across_calls(self, tmp_path: Path) -> None:
        """A stubborn model: one round per call must still stop (the round count lives in the store)."""
        sampler = Planted(stubborn=True)
        ctx = await generated(tmp_path, sampler)
        first = await verify_and_repair(ctx, rounds=1)
        assert first.stopped in ("no_progress", "max_rounds") and len(first.rounds) == 1
        repairs = sum(1 for r in sampler.history if r.stage == "repair_file")
        second = await verify_and_repair(ctx, rounds=1)
        assert second.stopped in ("no_progress", "max_rounds") and second.rounds == []
        assert sum(1 for r in sampler.history if r.stage == "repair_file") == repairs
