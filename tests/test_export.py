"""Export: the whole repository or nothing, confined to the output directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from papercoder_mcp.errors import PaperCoderError, StageError, UnsafePath
from papercoder_mcp.paths import normalize_repo_path, safe_join
from papercoder_mcp.pipeline.export import export_repo
from papercoder_mcp.pipeline.orchestrator import run_pipeline
from papercoder_mcp.stages import MAKE_PLAN, accept_answer

from fake_model import FakeSampler
from pipeline_helpers import new_run

pytestmark = pytest.mark.anyio


async def finished_run(tmp_path: Path):  # type: ignore[no-untyped-def]
    sampler = FakeSampler()
    ctx = new_run(tmp_path, sampler)
    result = await run_pipeline(ctx.store, ctx.run_id, sampler)
    assert result.status == "verified"
    return ctx


class TestExport:
    async def test_writes_code_config_requirements_readme_and_a_git_commit(self, tmp_path: Path) -> None:
        ctx = await finished_run(tmp_path)
        out = tmp_path / "repo"
        result = export_repo(ctx.store, ctx.run_id, out)
        assert json.loads((out / ".papercoder-export.json").read_text())["run_id"] == ctx.run_id
        names = sorted(p.name for p in out.iterdir() if p.name not in (".git", ".papercoder-export.json"))
        assert names == sorted(
            [
                "README.md",
                "config.yaml",
                "dataset.py",
                "evaluation.py",
                "main.py",
                "model.py",
                "reproduce.sh",
                "requirements.txt",
                "tests",
                "trainer.py",
                "utils.py",
            ]
        )
        assert (out / "tests" / "test_model.py").is_file()
        assert (out / "requirements.txt").read_text() == "pyyaml>=6\npytest\n"
        assert yaml.safe_load((out / "config.yaml").read_text())["train"]["epochs"] == 10
        readme = (out / "README.md").read_text()
        assert "the batch size is not given" in readme
        how = readme.split("## How to run", 1)[1].split("```")[1]
        assert how.splitlines()[1:] == [
            "pip install -r requirements.txt",
            "python -m pytest -q tests  # the tests",
            "python main.py smoke  # smoke mode: tiny synthetic data and models, CPU only",
            "python main.py evaluate  # Table 1: accuracy on the benchmark",
        ]
        assert "- `python main.py train`" in readme  # every command the entry point defines, from its code
        assumptions = readme.split("## Assumptions", 1)[1].split("##", 1)[0]
        assert "- `train.batch_size` = `32`" in assumptions and "- `smoke.steps` = `2`" in assumptions
        assert "learning_rate" not in assumptions  # the paper gives it
        provide = readme.split("## What you must provide", 1)[1].split("##", 1)[0]
        assert "- `data.train_file` in config.yaml: path to the benchmark's training split" in provide
        assert "## Not implemented" not in readme  # the fake model's map covers everything
        script = (out / "reproduce.sh").read_text()
        assert (
            "pip install -r requirements.txt\n\n"
            "# Smoke mode: every stage on tiny synthetic data and models (no download, no GPU).\n"
            "python main.py smoke\n\n"
        ) in script
        assert (
            "# Table 1: accuracy on the benchmark\npython main.py evaluate\n" in script.split("set +e", 1)[1]
        )
        assert "python main.py\n" not in script  # the bare entry point exits with a usage error
        assert os.access(out / "reproduce.sh", os.X_OK)
        if shutil.which("git"):
            assert len(result.git_commit) == 40

            # The user's git works in it as in any clone: right commit, nothing changed, no stray worktree.
            def git(*args: str) -> str:
                done = subprocess.run(
                    ["git", "-C", str(out), *args], capture_output=True, text=True, check=True
                )
                return done.stdout.strip()

            assert git("rev-parse", "HEAD") == result.git_commit
            assert git("status", "--porcelain") == ""
            assert git("rev-parse", "--show-toplevel") == str(out.resolve())

    async def test_refuses_a_non_empty_directory_and_force_replaces_only_an_earlier_export(
        self, tmp_path: Path
    ) -> None:
        ctx = await finished_run(tmp_path)
        out = tmp_path / "repo"
        out.mkdir()
        (out / "keep.txt").write_text("mine")
        with pytest.raises(PaperCoderError, match="not empty"):
            export_repo(ctx.store, ctx.run_id, out)
        with pytest.raises(PaperCoderError, match="was not written by papercoder-mcp export"):
            export_repo(ctx.store, ctx.run_id, out, force=True)
        assert (out / "keep.txt").read_text() == "mine"
        fresh = tmp_path / "fresh"
        export_repo(ctx.store, ctx.run_id, fresh)
        (fresh / "scratch.txt").write_text("left by the user")
        export_repo(ctx.store, ctx.run_id, fresh, force=True)
        # --force replaces the earlier export's own files; a file it did not write stays.
        assert (fresh / "scratch.txt").read_text() == "left by the user" and (fresh / "main.py").exists()

    async def test_an_incomplete_run_exports_nothing(self, tmp_path: Path) -> None:
        ctx = await finished_run(tmp_path)
        # An edited plan makes every downstream artifact stale: export must not pretend otherwise.
        plan = json.loads(ctx.store.get_artifact(ctx.run_id, "plan").content)
        plan["summary"] = "changed"
        accept_answer(MAKE_PLAN, ctx, "", json.dumps(plan), source="edit")
        with pytest.raises(StageError, match="stale"):
            export_repo(ctx.store, ctx.run_id, tmp_path / "out")
        assert not (tmp_path / "out").exists()

    async def test_missing_code_is_named(self, tmp_path: Path) -> None:
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        for stage in ["make_plan", "design_architecture", "order_files", "write_config"]:
            from papercoder_mcp.stages import STAGES, run_stage

            await run_stage(STAGES[stage], ctx)
        with pytest.raises(StageError, match="main.py: not generated"):
            export_repo(ctx.store, ctx.run_id, tmp_path / "out")


class TestPathConfinement:
    @pytest.mark.parametrize(
        "path", ["/abs/file.py", "../up.py", "a/../../up.py", "C:\\win.py", "~/home.py", "", "a/\x00.py"]
    )
    def test_hostile_paths_are_refused(self, path: str) -> None:
        with pytest.raises(UnsafePath):
            normalize_repo_path(path)

    def test_normalises_harmless_forms(self) -> None:
        assert normalize_repo_path("./src//model.py") == "src/model.py"
        assert normalize_repo_path(" model.py ") == "model.py"

    def test_a_symlink_out_of_the_tree_is_refused(self, tmp_path: Path) -> None:
        root = tmp_path / "root"
        outside = tmp_path / "outside"
        root.mkdir()
        outside.mkdir()
        (root / "link").symlink_to(outside, target_is_directory=True)
        with pytest.raises(UnsafePath, match="outside"):
            safe_join(root, "link/evil.py")
        assert safe_join(root, "pkg/ok.py") == root.resolve() / "pkg" / "ok.py"


class TestVerifiedExport:
    async def test_a_repository_failing_verification_is_refused_unless_allowed(self, tmp_path: Path) -> None:
        ctx = await finished_run(tmp_path)
        # main.py: nothing depends on it, so editing it leaves every other file fresh.
        main = ctx.store.get_artifact(ctx.run_id, "code", "main.py").content
        broken = "from model import missing_name\n" + main
        from papercoder_mcp.pipeline.edits import edit_artifact

        edit_artifact(ctx.store, ctx.run_id, "code", broken, "main.py")
        with pytest.raises(StageError, match="fails verification.*main.py:1 undefined_name"):
            export_repo(ctx.store, ctx.run_id, tmp_path / "out")
        assert not (tmp_path / "out").exists()
        result = export_repo(ctx.store, ctx.run_id, tmp_path / "out", allow_findings=True)
        assert any("undefined_name" in w for w in result.warnings)
        assert "## Known problems" in (tmp_path / "out" / "README.md").read_text()

    async def test_open_questions_stand_under_the_stage_that_raised_them_once_each(
        self, tmp_path: Path
    ) -> None:
        ctx = await finished_run(tmp_path)
        arch = json.loads(ctx.store.get_artifact(ctx.run_id, "architecture").content)
        arch["open_questions"] = ["The batch size is not given", "Batch size 32 is chosen (common)"]
        from papercoder_mcp.pipeline.edits import edit_artifact

        edit_artifact(ctx.store, ctx.run_id, "architecture", json.dumps(arch))
        assert (await run_pipeline(ctx.store, ctx.run_id, FakeSampler())).status == "verified"
        export_repo(ctx.store, ctx.run_id, tmp_path / "out")
        readme = (tmp_path / "out" / "README.md").read_text()
        questions = readme.split("## Open questions", 1)[1].split("\n## ", 1)[0]
        assert questions.strip().splitlines() == [
            "Reading the paper:",
            "",
            "- the batch size is not given",
            "",
            "Designing the code (with the choices made):",
            "",
            "- Batch size 32 is chosen (common)",
        ]

    async def test_optional_nulls_are_listed_apart_from_what_the_user_must_provide(
        self, tmp_path: Path
    ) -> None:
        # Seen: `limit: null  # optional: ... (null = all)` and a local-copy path listed under "What
        # you must provide", as if the code could not run without them.
        ctx = await finished_run(tmp_path)
        config = ctx.store.get_artifact(ctx.run_id, "config").content
        from papercoder_mcp.pipeline.edits import edit_artifact

        edit_artifact(
            ctx.store,
            ctx.run_id,
            "config",
            config + "eval:\n  limit: null  # optional: number of examples to evaluate (null = all)\n",
        )
        sampler = FakeSampler()  # what the edit made stale is made again
        assert (await run_pipeline(ctx.store, ctx.run_id, sampler)).status == "verified"
        export_repo(ctx.store, ctx.run_id, tmp_path / "out")
        readme = (tmp_path / "out" / "README.md").read_text()
        provide = readme.split("## What you must provide", 1)[1].split("\n## ", 1)[0]
        optional = readme.split("## Optional settings", 1)[1].split("\n## ", 1)[0]
        assert "data.train_file" in provide and "eval.limit" not in provide
        assert "- `eval.limit`: number of examples to evaluate (null = all)" in optional

    async def test_data_the_code_reads_is_listed_in_the_readme(self, tmp_path: Path) -> None:
        ctx = await finished_run(tmp_path)
        code = ctx.store.get_artifact(ctx.run_id, "code", "main.py").content
        reads = code + (
            "\n\nimport os\nfrom pathlib import Path\n\n\n"
            "def load_rows() -> list[str]:\n"
            '    key = os.environ["OPENAI_API_KEY"]\n'
            '    log = Path("outputs/log.txt")\n'
            '    with open("outputs/metrics.json", "w") as out:\n        out.write(key[:0])\n'
            '    with log.open("a") as out:\n        out.write("started")\n'
            '    with log.open("r") as fh:\n        fh.read()\n'
            '    with open("data/train.csv", "r") as fh:\n        return fh.readlines()\n'
        )
        from papercoder_mcp.pipeline.edits import edit_artifact

        edit_artifact(ctx.store, ctx.run_id, "code", reads, "main.py")
        export_repo(ctx.store, ctx.run_id, tmp_path / "out", allow_findings=True)
        readme = (tmp_path / "out" / "README.md").read_text()
        section = readme.split("## What you must provide", 1)[1].split("\n## ", 1)[0]
        bullets = [line for line in section.splitlines() if line.startswith("- ")]
        # The real inputs, each with how the code reads it; never the modes "r"/"w" or its own outputs.
        lines = reads.splitlines()
        key_line = lines.index('    key = os.environ["OPENAI_API_KEY"]') + 1
        data_line = lines.index('    with open("data/train.csv", "r") as fh:') + 1
        assert bullets == [
            # config.yaml's nulls first (the fake config leaves the training split to the user), ...
            "- `data.train_file` in config.yaml: path to the benchmark's training split: download it from its "
            "authors",
            # ... then what the code reads that nothing in it makes.
            f"- `data/train.csv` (dataset): read by `main.py` (line {data_line}, `open`)",
            f"- `OPENAI_API_KEY` (environment variable): read from the environment by `main.py` (line {key_line}); "
            "set it before running",
        ], section
