"""check_coverage: the paper mapped to the code, checked against the code, missing work made visible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from papercoder_mcp.models import CoverageReport
from papercoder_mcp.pipeline.edits import edit_artifact
from papercoder_mcp.pipeline.export import export_repo
from papercoder_mcp.pipeline.orchestrator import run_pipeline
from papercoder_mcp.stages import REPAIR_FILE, StageContext, check_coverage
from papercoder_mcp.stages.check_coverage import defined_symbols

from fake_model import FakeSampler
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
    ]
}


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
        assert result.artifact.metadata["missing"] == 4
        assert result.artifact.metadata["repair_files"] == [
            "main.py",
            "trainer.py",
        ]  # not ghost.py: no such file

    async def test_what_is_mapped_to_missing_code_becomes_repair_work(self, tmp_path: Path) -> None:
        ctx, sampler = await finished(tmp_path)
        sampler.overrides = [json.dumps(MAP)]
        await check_coverage(ctx, force=True)
        prompt = REPAIR_FILE.prepare(ctx, "trainer.py").request.prompt
        assert (
            "[not_implemented, warning] warm-up schedule (Sec. 3) is mapped to code that does not exist"
            in prompt
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
