"""`full`, `cost`, `export` on the command line: dry runs, refusals, and a finished run's reports."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from papercoder_mcp.cli import app
from papercoder_mcp.pipeline.orchestrator import run_pipeline
from papercoder_mcp.store import Store
from papercoder_mcp.store.records import CallRecord

from fake_model import FakeSampler
from mcp_helpers import PAPER_MD
from pipeline_helpers import new_run

runner = CliRunner()


@pytest.fixture
def paper(tmp_path: Path) -> Path:
    p = tmp_path / "paper.md"
    p.write_text(PAPER_MD)
    return p


def finished(tmp_path: Path) -> tuple[Path, str]:
    sampler = FakeSampler()
    ctx = new_run(tmp_path, sampler)
    anyio.run(run_pipeline, ctx.store, ctx.run_id, sampler)
    ctx.store.record_call(
        CallRecord(
            run_id=ctx.run_id,
            stage="analyze_file",
            key="model.py",
            sampler="anthropic",
            model="claude-sonnet-5-5",
            input_tokens=100,
            cache_read_tokens=10_000,
            output_tokens=500,
            cost_usd=0.0064,
        )
    )
    return ctx.store.path, ctx.run_id


class TestFull:
    def test_dry_run_prices_every_call_without_a_key_or_a_model(self, paper: Path) -> None:
        result = runner.invoke(app, ["full", str(paper), "--dry-run"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert "nothing was sent to a model" in result.output
        assert "make_plan" in result.output and "generate_file" in result.output
        assert "assumed 12 files" in result.output and "check_coverage" in result.output
        assert "Estimated total: $" in result.output

    def test_without_a_key_it_says_what_to_do(self, paper: Path, tmp_path: Path) -> None:
        result = runner.invoke(app, ["full", str(paper), "--out", str(tmp_path / "repo")])
        assert result.exit_code == 1
        assert "ANTHROPIC_API_KEY is not set" in result.output and "--dry-run" in result.output

    def test_a_non_empty_out_dir_is_refused_before_any_spending(self, paper: Path, tmp_path: Path) -> None:
        out = tmp_path / "repo"
        out.mkdir()
        (out / "mine.txt").write_text("x")
        result = runner.invoke(app, ["full", str(paper), "--out", str(out)], env={"ANTHROPIC_API_KEY": "k"})
        assert result.exit_code == 1 and "not empty" in result.output
        assert (out / "mine.txt").exists()


class TestCostAndExport:
    def test_cost_shows_stages_files_and_cache_savings(self, tmp_path: Path) -> None:
        db, run_id = finished(tmp_path)
        result = runner.invoke(app, ["--db", str(db), "cost", run_id], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        for stage in ["make_plan", "analyze_file", "generate_file"]:
            assert stage in result.output
        assert "model.py" in result.output
        # 10,000 cache-read tokens at $2.00 - $0.10 per million saved $0.019.
        assert "prompt caching saved $0.0190" in result.output

    def test_export_writes_the_repository_and_refuses_an_unknown_run(self, tmp_path: Path) -> None:
        db, run_id = finished(tmp_path)
        out = tmp_path / "exported"
        result = runner.invoke(app, ["--db", str(db), "export", run_id, str(out)])
        assert result.exit_code == 0, result.output
        assert (out / "main.py").exists() and (out / "reproduce.sh").exists()
        bad = runner.invoke(app, ["--db", str(db), "export", "run-nope", str(tmp_path / "x")])
        assert bad.exit_code == 1 and "no run with id 'run-nope'" in bad.output
        with Store(db) as store:
            assert store.get_run(run_id).settings["exported_to"] == str(out.resolve())


class TestVerifyCommand:
    def test_a_clean_run_passes_and_a_broken_one_lists_its_findings(self, tmp_path: Path) -> None:
        db, run_id = finished(tmp_path)
        ok = runner.invoke(app, ["--db", str(db), "verify", run_id], env={"COLUMNS": "200"})
        assert ok.exit_code == 0, ok.output
        assert "verification passed" in ok.output
        with Store(db) as store:
            main = store.get_artifact(run_id, "code", "main.py").content
            from papercoder_mcp.pipeline.edits import edit_artifact

            edit_artifact(store, run_id, "code", "from model import nothing_here\n" + main, "main.py")
        bad = runner.invoke(app, ["--db", str(db), "verify", run_id], env={"COLUMNS": "200"})
        assert bad.exit_code == 1
        assert "undefined_name" in bad.output and "main.py" in bad.output
        assert "verification found 1 error(s)" in bad.output

    def test_repairs_need_a_key(self, tmp_path: Path) -> None:
        db, run_id = finished(tmp_path)
        result = runner.invoke(app, ["--db", str(db), "verify", run_id, "--repair", "2"])
        assert result.exit_code == 1 and "ANTHROPIC_API_KEY is not set" in result.output
