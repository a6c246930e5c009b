"""check_coverage: the paper mapped to the code, checked against the code, missing work made visible."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from papercoder_mcp.errors import StageError, ValidationFailed
from papercoder_mcp.models import Architecture, CoverageReport
from papercoder_mcp.pipeline.answers import AnswerBook, HandoffSampler
from papercoder_mcp.pipeline.edits import edit_artifact
from papercoder_mcp.pipeline.export import export_repo
from papercoder_mcp.pipeline.orchestrator import PipelineOptions, run_pipeline
from papercoder_mcp.pipeline.repair import verify_and_repair
from papercoder_mcp.stages import (
    ANALYZE_FILE,
    REPAIR_FILE,
    StageContext,
    check_coverage,
    design_architecture,
    inputs,
    make_plan,
    order_files,
    write_config,
)
from papercoder_mcp.stages.base import accept_answer
from papercoder_mcp.stages.check_coverage import current_report, defined_symbols
from papercoder_mcp.stages.design_architecture import STAGE as DESIGN
from papercoder_mcp.stages.repair_file import repair_file

from fake_model import FakeModel, FakeSampler, module_fn
from pipeline_helpers import new_run

pytestmark = pytest.mark.anyio

MAP = {
    "items": [
        {
            "name": "core layer",
            "kind": "component",
            "paper_reference": "Eq. 1",
            "file": "model.py",
            "symbol": "model_step",
        },
        {
            "name": "warm-up schedule",
            "kind": "component",
            "paper_reference": "Sec. 3",
            "file": "trainer.py",
            "symbol": "WarmUp.step",
        },
        {
            "name": "Table 1",
            "kind": "table",
            "paper_reference": "Table 1",
            "file": "main.py",
            "symbol": "main",
            "command": "python main.py evaluate",
        },
        {
            "name": "Table 2",
            "kind": "table",
            "paper_reference": "Table 2",
            "file": "main.py",
            "symbol": "main",
            "command": "python main.py ablate --part attention",
        },
        {
            "name": "Figure 3: attention maps",
            "kind": "figure",
            "paper_reference": "Figure 3",
            "note": "no plotting code",
        },
        {"name": "ghost module", "kind": "component", "file": "ghost.py", "symbol": "Ghost"},
        {
            "name": "Table 3: three methods",
            "kind": "table",
            "file": "evaluation.py",
            "symbol": "evaluation_step",
            "note": "runs two of the three methods: the ensemble is never run",
        },
    ]
}


async def verify_repo_now(ctx: StageContext) -> None:
    await verify_and_repair(ctx, rounds=0)


async def finished(tmp_path: Path) -> tuple[StageContext, FakeSampler]:
    sampler = FakeSampler()
    ctx = new_run(tmp_path, sampler)
    assert (await run_pipeline(ctx.store, ctx.run_id, sampler)).status == "verified"
    return ctx, sampler


class TestCheckedAgainstTheCode:
    async def test_each_item_is_checked_for_file_symbol_and_command(self, tmp_path: Path) -> None:
        ctx, sampler = await finished(tmp_path)
        sampler.overrides = [json.dumps(MAP)]
        result = await check_coverage(ctx, force=True)
        report = CoverageReport.model_validate_json(result.artifact.content)
        status = {i.name: (i.status, i.problem) for i in report.items}
        assert status["core layer"] == ("implemented", "")
        assert status["Table 1"] == ("implemented", "")
        assert status["warm-up schedule"] == ("not_found", "trainer.py defines no WarmUp.step")
        assert status["Table 2"] == (
            "not_found",
            "`python main.py ablate --part attention`: main.py has no subcommand 'ablate' (it has train, evaluate, smoke)",
        )
        assert status["Figure 3: attention maps"] == ("not_implemented", "no plotting code")
        assert status["ghost module"] == ("not_found", "ghost.py is not a file of the repository")
        # Mapped to code that exists, but the map's note says what it leaves out.
        assert status["Table 3: three methods"] == (
            "partial",
            "only in part: runs two of the three methods: the ensemble is never run",
        )
        assert result.artifact.metadata["missing"] == 5
        assert result.artifact.metadata["repair_files"] == [
            "evaluation.py",
            "main.py",
            "trainer.py",
        ]  # not ghost.py: no such file

    async def test_code_that_nothing_uses_is_not_counted_as_implemented(self, tmp_path: Path) -> None:
        ctx, sampler = await finished(tmp_path)
        evaluation = ctx.store.get_artifact(ctx.run_id, "code", "evaluation.py").content
        edit_artifact(
            ctx.store,
            ctx.run_id,
            "code",
            evaluation + "\n\ndef attention_maps() -> list[int]:\n    return [1]\n",
            "evaluation.py",
        )
        figure = {"name": "Figure 3", "kind": "figure", "file": "evaluation.py", "symbol": "attention_maps"}
        core = {"name": "core layer", "kind": "component", "file": "model.py", "symbol": "model_step"}
        model = ctx.store.get_artifact(ctx.run_id, "code", "model.py").content
        # A method its framework calls (`forward`) is used when its class is.
        layer = "\n\nclass Layer:\n    def forward(self) -> int:\n        return 1\n\n\nLAYER = Layer()\n"
        edit_artifact(ctx.store, ctx.run_id, "code", model + layer, "model.py")
        forward = {"name": "layer", "kind": "component", "file": "model.py", "symbol": "Layer.forward"}
        sampler.overrides = [json.dumps({"items": [figure, core, forward]})]
        result = await check_coverage(ctx, force=True)
        status = {
            i.name: (i.status, i.problem)
            for i in CoverageReport.model_validate_json(result.artifact.content).items
        }
        assert status["Figure 3"] == (
            "unused",
            "evaluation.py defines attention_maps, but no code outside the tests uses it",
        )
        assert status["core layer"] == ("implemented", "")  # trainer.py and evaluation.py call it
        assert status["layer"] == ("implemented", "")
        # Wiring it into the experiments is the entry point's work.
        assert result.artifact.metadata["repair_files"] == ["main.py"]

    async def test_what_is_mapped_to_missing_code_becomes_repair_work(self, tmp_path: Path) -> None:
        ctx, sampler = await finished(tmp_path)
        sampler.overrides = [json.dumps(MAP)]
        await check_coverage(ctx, force=True)
        prompt = REPAIR_FILE.prepare(ctx, "trainer.py").request.prompt
        assert (
            "[not_implemented, warning] warm-up schedule (Sec. 3) is mapped to code that does not exist"
            in prompt
        )
        assert (
            "Table 3: three methods: evaluation.py (evaluation_step) implements it only in part: runs two of the "
            "three methods" in REPAIR_FILE.prepare(ctx, "evaluation.py").request.prompt
        )
        # A command the entry point lacks is the entry point's to fix.
        assert "no subcommand 'ablate'" in REPAIR_FILE.prepare(ctx, "main.py").request.prompt

    async def test_an_invalid_map_is_reasked(self, tmp_path: Path) -> None:
        ctx, sampler = await finished(tmp_path)
        sampler.overrides = [json.dumps({"items": [{"name": "x", "kind": "theorem"}]})]
        await check_coverage(ctx, force=True)
        assert "items.0.kind" in sampler.history[-1].followups[-1].text

    def test_symbols_include_methods_and_assigned_names(self) -> None:
        source = "class A:\n    def f(self): ...\n\ndef g(): ...\nX = 1\n"
        assert defined_symbols(source) == {"A", "A.f", "g", "X"}


class TestInTheExport:
    async def test_the_readme_lists_what_is_not_implemented_and_reproduce_runs_only_real_commands(
        self, tmp_path: Path
    ) -> None:
        ctx, sampler = await finished(tmp_path)
        sampler.overrides = [json.dumps(MAP)]
        await check_coverage(ctx, force=True)
        export_repo(ctx.store, ctx.run_id, tmp_path / "out")
        readme = (tmp_path / "out" / "README.md").read_text()
        missing = readme.split("## Not implemented", 1)[1].split("##", 1)[0]
        assert "- Figure 3: attention maps (Figure 3): no plotting code" in missing
        assert "- warm-up schedule (Sec. 3): trainer.py defines no WarmUp.step" in missing
        assert "core layer" not in missing
        script = (tmp_path / "out" / "reproduce.sh").read_text()
        commands = [line for line in script.splitlines() if line.startswith("python ")]
        assert commands == ["python main.py smoke", "python main.py evaluate"]
        assert (
            "# - Table 2 `python main.py ablate --part attention`: main.py has no subcommand 'ablate'"
            in script
        )

    async def test_a_stale_coverage_check_is_said_not_used(self, tmp_path: Path) -> None:
        ctx, _ = await finished(tmp_path)
        main = ctx.store.get_artifact(ctx.run_id, "code", "main.py").content
        # A new function changes main.py's interface, which the map was made from.
        edit_artifact(
            ctx.store, ctx.run_id, "code", main + "\n\ndef plot() -> None:\n    print(1)\n", "main.py"
        )
        result = export_repo(ctx.store, ctx.run_id, tmp_path / "out")
        assert any("coverage check is out of date" in w for w in result.warnings)
        assert "The coverage check is out of date" in (tmp_path / "out" / "README.md").read_text()


def design(plan_map: list[dict[str, object]]) -> str:
    arch = json.loads(FakeModel().answer("design_architecture", "")[0].split("\n", 1)[1].rsplit("```", 1)[0])
    return json.dumps({**arch, "plan_map": plan_map})


class TestTheDesignPlacesThePlan:
    """Before any code is written, the design places every component and experiment of the plan."""

    async def test_a_design_that_leaves_out_an_item_is_asked_again_with_what_it_missed(
        self, tmp_path: Path
    ) -> None:
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        await make_plan(ctx)
        sampler.overrides = [design([{"item": "C1", "files": ["model.py"]}])]
        result = await design_architecture(ctx)
        reask = sampler.history[-1].followups[-1].text
        assert "plan_map leaves out 1 item(s) of the plan: E1 (Table 1)" in reask
        arch = Architecture.model_validate_json(result.artifact.content)
        assert {p.item for p in arch.plan_map} == {"C1", "E1"}  # the second answer places both
        prompt = sampler.history[-1].prompt
        assert "- C1: core layer" in prompt and "- E1: Table 1" in prompt

    @pytest.mark.parametrize(
        ("plan_map", "message"),
        [
            (
                [{"item": "C1", "files": ["ghost.py"]}, {"item": "E1", "files": ["main.py"]}],
                "plan_map item C1 names files that are not in files: ghost.py",
            ),
            (
                [{"item": "C1", "files": ["model.py"]}, {"item": "E1"}],
                "plan_map item E1 has no files: name the files that implement it, or say in not_planned why",
            ),
            (
                [
                    {"item": "C1", "files": ["model.py"]},
                    {"item": "E1", "files": ["main.py"]},
                    {"item": "E7", "files": ["main.py"]},
                ],
                "plan_map names items the plan does not have: E7 (the plan's items are C1, E1)",
            ),
        ],
    )
    async def test_what_a_plan_map_may_not_say(
        self, tmp_path: Path, plan_map: list[dict[str, object]], message: str
    ) -> None:
        ctx = new_run(tmp_path, FakeSampler())
        await make_plan(ctx)
        with pytest.raises(ValidationFailed, match=re.escape(message)):
            DESIGN.accept(ctx, "", design(plan_map), None)

    async def test_an_item_left_out_with_a_reason_is_listed_as_not_implemented(self, tmp_path: Path) -> None:
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        await make_plan(ctx)
        left_out = "needs 64 TPUs for a month"
        sampler.overrides = [
            design([{"item": "C1", "files": ["model.py"]}, {"item": "E1", "not_planned": left_out}])
        ]
        await design_architecture(ctx)
        assert inputs.architecture(ctx).planned_for("model.py")[0].item == "C1"
        # The analysis of the file the design placed C1 in is told to implement it.
        await order_files(ctx)
        await write_config(ctx)
        assert "What of the plan it implements, by the design's plan_map: C1 (core layer)" in (
            ANALYZE_FILE.prepare(ctx, "model.py").request.prompt
        )

    async def test_every_baseline_the_experiments_compare_against_must_be_placed(
        self, tmp_path: Path
    ) -> None:
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        plan = json.loads(FakeModel().answer("make_plan", "")[0].split("\n", 1)[1].rsplit("```", 1)[0])
        sampler.overrides = [
            json.dumps({**plan, "baselines": ["TGAN: fine-tune a pre-trained GAN (Sec. 5)"]})
        ]
        await make_plan(ctx)
        placed = [{"item": "C1", "files": ["model.py"]}, {"item": "E1", "files": ["main.py"]}]
        sampler.overrides = [design(placed), design([*placed, {"item": "B1", "files": ["model.py"]}])]
        await design_architecture(ctx)
        assert "B1 (TGAN: fine-tune a pre-trained GAN (Sec. 5))" in sampler.history[-1].followups[-1].text
        assert "- B1: TGAN" in sampler.history[-1].prompt
        assert [p.item for p in inputs.architecture(ctx).planned_for("model.py")] == ["C1", "B1"]

    def test_a_stored_design_without_a_map_still_loads(self) -> None:
        arch = json.loads(design([]))
        del arch["plan_map"]
        assert Architecture.model_validate(arch).plan_map == []


class TestCoverageFeedsTheRepairLoop:
    async def test_a_component_the_design_placed_but_the_code_lacks_is_repaired(self, tmp_path: Path) -> None:
        sampler = FakeSampler(fake=FakeModel(coverage_gap=True))
        ctx = new_run(tmp_path, sampler)
        result = await run_pipeline(ctx.store, ctx.run_id, sampler)
        assert result.status == "verified", result.message
        stages = [r.stage for r in sampler.history]
        assert stages.count("check_coverage") == 2 and stages.count("repair_file") == 1
        repair = next(r for r in sampler.history if r.stage == "repair_file")
        assert "`utils.py`" in repair.prompt
        assert "the design places it in utils.py (core_layer), but the code does not implement it" in (
            repair.prompt
        )
        report = current_report(ctx)
        assert report is not None and report.missing() == []
        assert "def core_layer" in ctx.store.get_artifact(ctx.run_id, "code", "utils.py").content
        # A resumed run pays for nothing again.
        before = len(sampler.history)
        assert (await run_pipeline(ctx.store, ctx.run_id, sampler)).status == "verified"
        assert len(sampler.history) == before

    async def test_a_repair_that_changes_nothing_ends_the_round(self, tmp_path: Path) -> None:
        class Stubborn(FakeModel):
            def code_for(self, path: str, *, repaired: bool = False) -> str:
                return super().code_for(path, repaired=False)  # the repair never adds the layer

        sampler = FakeSampler(fake=Stubborn(coverage_gap=True))
        ctx = new_run(tmp_path, sampler)
        result = await run_pipeline(ctx.store, ctx.run_id, sampler)
        assert result.status == "verified", result.message  # the code runs; the gap is reported
        stages = [r.stage for r in sampler.history]
        assert stages.count("check_coverage") == 1 and stages.count("repair_file") == 1
        export_repo(ctx.store, ctx.run_id, tmp_path / "out", allow_findings=True)
        readme = (tmp_path / "out" / "README.md").read_text()
        assert "core layer (Section 1): the core layer is not in the code" in readme

    async def test_no_repair_rounds_means_no_coverage_repairs(self, tmp_path: Path) -> None:
        sampler = FakeSampler(fake=FakeModel(coverage_gap=True))
        ctx = new_run(tmp_path, sampler)
        await run_pipeline(ctx.store, ctx.run_id, sampler, PipelineOptions(repair_rounds=0))
        assert "repair_file" not in [r.stage for r in sampler.history]

    async def test_a_coverage_repair_handed_to_the_agent_is_not_hidden_behind_verified(
        self, tmp_path: Path
    ) -> None:
        sampler = FakeSampler(fake=FakeModel(coverage_gap=True))
        ctx = new_run(tmp_path, sampler)
        await run_pipeline(ctx.store, ctx.run_id, sampler, PipelineOptions(repair_rounds=0))
        agent = HandoffSampler(AnswerBook(ctx.store, ctx.run_id))
        result = await run_pipeline(ctx.store, ctx.run_id, agent)
        assert result.status == "needs_input", result.message
        assert "verification passed, and the coverage check found" in result.message
        assert [(r.stage, r.key) for r in result.deferred] == [("repair_file", "utils.py")]
        assert "core layer" in result.deferred[0].prompt
        assert ctx.store.get_run(ctx.run_id).status == "verified"  # the code is; the repair is offered
        # The agent answers that the file may stay as it is: that is the round, not asked again.
        accept_answer(REPAIR_FILE, ctx, "utils.py", "UNCHANGED", source="agent")
        again = await run_pipeline(ctx.store, ctx.run_id, agent)
        assert again.status == "verified" and again.deferred == [], again.message

    async def test_repairing_one_file_leaves_the_other_files_findings_standing(self, tmp_path: Path) -> None:
        ctx, sampler = await finished(tmp_path)
        partial = [
            {
                "name": f"part of {f}",
                "kind": "component",
                "file": f,
                "symbol": module_fn(f),
                "note": "half done",
            }
            for f in ("model.py", "trainer.py")
        ]
        sampler.overrides = [json.dumps({"items": partial})]
        await check_coverage(ctx, force=True)
        await verify_repo_now(ctx)
        assert "part of trainer.py" in REPAIR_FILE.prepare(ctx, "trainer.py").request.prompt
        sampler.overrides = ["```python\n" + ctx.store.get_artifact(ctx.run_id, "code", "model.py").content
                             + "\n\nEXTRA = 1\n```"]  # fmt: skip
        await repair_file(ctx, "model.py")
        await verify_repo_now(ctx)
        # The map is now older than model.py, so it says nothing of model.py any more; trainer.py is
        # the code the map read, so its finding stands (the round repairs every file it found).
        assert "part of trainer.py" in REPAIR_FILE.prepare(ctx, "trainer.py").request.prompt
        with pytest.raises(StageError, match="nothing to repair in model.py; the coverage map is older"):
            REPAIR_FILE.prepare(ctx, "model.py")

    async def test_a_map_given_twice_for_the_same_code_is_one_round(self, tmp_path: Path) -> None:
        sampler = FakeSampler(fake=FakeModel(coverage_gap=True))
        ctx = new_run(tmp_path, sampler)
        await run_pipeline(ctx.store, ctx.run_id, sampler, PipelineOptions(repair_rounds=0))
        await check_coverage(ctx, force=True)  # as an agent submitting its answer twice
        assert len(ctx.store.history(ctx.run_id, "coverage")) == 2
        result = await run_pipeline(ctx.store, ctx.run_id, sampler)
        assert result.status == "verified", result.message
        assert [r.stage for r in sampler.history].count("repair_file") == 1
        report = current_report(ctx)
        assert report is not None and report.missing() == []
