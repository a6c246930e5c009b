"""End to end: a runtime bug that every static check passes is caught only by running the repository
in the sandbox, and the repair loop, fed the real traceback, fixes it."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult
from typer.testing import CliRunner

from papercoder_mcp.cli import app
from papercoder_mcp.pipeline.orchestrator import PipelineOptions, run_pipeline
from papercoder_mcp.pipeline.repair import verify_and_repair, verify_and_store
from papercoder_mcp.pipeline.status import run_status
from papercoder_mcp.server.build import build_server
from papercoder_mcp.stages import REPAIR_FILE, run_stage
from papercoder_mcp.store import Store
from papercoder_mcp.verify.models import Verification
from papercoder_mcp.verify.sandbox import _bwrap_works

from fake_model import DEFAULT_FILES, FakeModel, FakeSampler, stage_of
from mcp_helpers import ModelCallback
from pipeline_helpers import new_run

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        not sys.platform.startswith("linux") or _bwrap_works() is not None, reason="needs bwrap"
    ),
]
runner = CliRunner()
WITH_TESTS = {**DEFAULT_FILES, "tests/test_trainer.py": ["trainer.py"]}


def planted() -> FakeSampler:
    return FakeSampler(FakeModel(files=dict(WITH_TESTS), planted_bug="trainer.py", smoke_mode=True))


class TestPlantedRuntimeBug:
    async def test_static_checks_alone_call_the_buggy_run_complete(self, tmp_path: Path) -> None:
        sampler = planted()
        ctx = new_run(tmp_path, sampler)
        result = await run_pipeline(ctx.store, ctx.run_id, sampler, PipelineOptions(smoke=False))
        assert result.status == "verified"  # this is the blind spot executed verification closes
        # ... and the status says so: nothing claims the code ran.
        assert "the tests and smoke mode have not run" in result.message
        assert run_status(ctx.store, ctx.run_id).executed is False
        assert "scale" in ctx.store.get_artifact(ctx.run_id, "code", "trainer.py").content

    async def test_smoke_run_catches_it_and_the_repair_loop_fixes_it(self, tmp_path: Path) -> None:
        sampler = planted()
        ctx = new_run(tmp_path, sampler)
        result = await run_pipeline(ctx.store, ctx.run_id, sampler, PipelineOptions(smoke=True))
        assert result.status == "verified", result.message
        assert "ran in the sandbox and passed" in result.message
        assert run_status(ctx.store, ctx.run_id).executed is True

        repairs = [r for r in sampler.history if stage_of(r.prompt) == "repair_file"]
        # Only the file at fault is repaired (the innermost project frame), with the real traceback
        # and the failing test's source in its prompt.
        assert [r.prompt.split("`")[1] for r in repairs] == ["trainer.py"]
        prompt = repairs[0].prompt
        assert "UnboundLocalError" in prompt and 'File "/repo/trainer.py"' in prompt
        assert "def test_trainer_step()" in prompt
        assert "never delete a test or weaken it" in prompt

        verification = Verification.model_validate_json(
            ctx.store.get_artifact(ctx.run_id, "verification").content
        )
        assert verification.passed and verification.smoke is not None
        assert verification.smoke.sandbox == "bwrap"
        assert verification.smoke.smoke_command == "python main.py smoke"
        # tests/test_trainer.py and the default design's tests/test_model.py
        assert (verification.smoke.tests_passed, verification.smoke.tests_failed) == (2, 0)
        history = ctx.store.history(ctx.run_id, "code", "trainer.py")
        assert [a.metadata.get("repair", False) for a in history] == [False, True]
        assert "scale" not in history[-1].content

    async def test_a_current_result_is_reused_and_a_changed_file_is_run_again(self, tmp_path: Path) -> None:
        sampler = planted()
        ctx = new_run(tmp_path, sampler)
        await run_pipeline(ctx.store, ctx.run_id, sampler, PipelineOptions(smoke=True))
        first = ctx.store.get_artifact(ctx.run_id, "verification")
        again = verify_and_store(ctx, smoke=True)
        assert ctx.store.get_artifact(ctx.run_id, "verification").version == first.version
        assert again.smoke is not None and again.smoke.key
        code = ctx.store.get_artifact(ctx.run_id, "code", "utils.py")
        ctx.store.put_artifact(
            ctx.run_id, "code", code.content + "\nEXTRA = 1\n", key="utils.py", input_hash=code.input_hash
        )
        rerun = verify_and_store(ctx, smoke=True)
        assert ctx.store.get_artifact(ctx.run_id, "verification").version == first.version + 1
        assert rerun.smoke is not None and rerun.smoke.key != again.smoke.key


class TestTestsAreRepairedNotWeakened:
    async def test_wrong_test_is_corrected_and_a_weakening_answer_refused(self, tmp_path: Path) -> None:
        fake = FakeModel(files=dict(WITH_TESTS), smoke_mode=True, wrong_tests={"tests/test_trainer.py"})
        sampler = FakeSampler(fake)
        ctx = new_run(tmp_path, sampler)
        await run_pipeline(ctx.store, ctx.run_id, sampler, PipelineOptions(verify=False))
        verification = verify_and_store(ctx, smoke=True)
        failing = [f for f in verification.findings if f.severity == "error"]
        assert [(f.kind, f.file) for f in failing] == [("test_failure", "tests/test_trainer.py")]

        weakened = '"""tests/test_trainer.py"""\n\n\ndef test_trainer_step() -> None:\n    assert True\n'
        sampler.overrides = [f"```python\n{weakened}```"]  # the first answer deletes the assertion
        await run_stage(REPAIR_FILE, ctx, "tests/test_trainer.py")
        errors = [c.error for c in ctx.store.calls(ctx.run_id) if c.stage == "repair_file" and c.error]
        assert len(errors) == 1 and "never deleted or weakened" in errors[0]
        repaired = ctx.store.get_artifact(ctx.run_id, "code", "tests/test_trainer.py").content
        assert "assert trainer_step() > 0" in repaired

        report = await verify_and_repair(ctx, smoke=True)
        assert report.verification.passed and report.stopped == "clean"


class TestCommandLine:
    def finished_with_bug(self, tmp_path: Path) -> tuple[Path, str]:
        sampler = planted()
        ctx = new_run(tmp_path, sampler)
        anyio.run(
            functools.partial(run_pipeline, ctx.store, ctx.run_id, sampler, PipelineOptions(verify=False))
        )
        return ctx.store.path, ctx.run_id

    def test_verify_smoke_reports_the_runtime_bug(self, tmp_path: Path) -> None:
        db, run_id = self.finished_with_bug(tmp_path)
        static = runner.invoke(app, ["--db", str(db), "verify", run_id], env={"COLUMNS": "200"})
        assert static.exit_code == 0, static.output
        executed = runner.invoke(app, ["--db", str(db), "verify", run_id, "--smoke"], env={"COLUMNS": "200"})
        assert executed.exit_code == 1, executed.output
        assert "smoke_run" in executed.output and "trainer.py" in executed.output

    def test_without_a_sandbox_it_refuses_unless_unsandboxed(self, tmp_path: Path) -> None:
        db, run_id = self.finished_with_bug(tmp_path)
        no_bwrap = {"PATH": str(tmp_path / "empty"), "COLUMNS": "200"}
        _bwrap_works.cache_clear()
        try:
            refused = runner.invoke(app, ["--db", str(db), "verify", run_id, "--smoke"], env=no_bwrap)
            assert refused.exit_code != 0
            assert "bubblewrap" in refused.output and "--unsandboxed" in refused.output
            with Store(db) as store:
                assert store.find_artifact(run_id, "verification") is None  # nothing ran, nothing claimed
            allowed = runner.invoke(
                app, ["--db", str(db), "verify", run_id, "--smoke", "--unsandboxed"], env=no_bwrap
            )
            assert allowed.exit_code == 1 and "smoke_run" in allowed.output, allowed.output
        finally:
            _bwrap_works.cache_clear()


class TestThroughMcp:
    async def test_an_agent_runs_the_repository_and_repairs_it_by_handoff(self, tmp_path: Path) -> None:
        sampler = planted()
        ctx = new_run(tmp_path, sampler)
        await run_pipeline(ctx.store, ctx.run_id, sampler, PipelineOptions(verify=False))
        run_id = ctx.run_id
        async with Client(build_server(ctx.store)) as client:
            found = tool_data(await client.call_tool("verify_repo", {"run_id": run_id, "smoke": True}))
            assert found["passed"] is False and found["smoke"]["sandbox"] == "bwrap"
            errors = [(f["kind"], f["file"]) for f in found["findings"] if f["severity"] == "error"]
            assert errors == [("test_failure", "trainer.py"), ("smoke_run", "trainer.py")]
            assert found["next"] == [f"repair_file(run_id={run_id!r}, path='trainer.py')"]
            handed = tool_data(
                await client.call_tool(
                    "repair_file", {"run_id": run_id, "path": "trainer.py", "sampler": "handoff"}
                )
            )
            prompt = handed["handoff"]["prompt"]
            assert "UnboundLocalError" in prompt and "python main.py smoke" in prompt
            fixed = FakeModel(files=dict(WITH_TESTS), smoke_mode=True).code_for("trainer.py")
            tool_data(
                await client.call_tool(
                    "submit_artifact",
                    {"handoff_id": handed["handoff"]["handoff_id"], "content": f"```python\n{fixed}```"},
                )
            )
            again = tool_data(await client.call_tool("verify_repo", {"run_id": run_id, "smoke": True}))
            assert again["passed"] is True and again["smoke"]["tests_passed"] == 2  # with tests/test_model.py
            report = tool_data(await client.call_tool("get_run", {"run_id": run_id}))
            assert report["complete"] is True


class TestRunPipelineRunsTheCode:
    async def test_run_pipeline_with_smoke_catches_and_repairs_the_runtime_bug(self, tmp_path: Path) -> None:
        fake = FakeModel(files=dict(WITH_TESTS), planted_bug="trainer.py", smoke_mode=True)
        ctx = new_run(tmp_path)
        async with Client(build_server(ctx.store), sampling_callback=ModelCallback(fake)) as client:
            for _ in range(5):
                done = tool_data(
                    await client.call_tool("run_pipeline", {"run_id": ctx.run_id, "smoke": True})
                )
                if done["status"] != "partial":
                    break
            assert done["status"] == "verified", done["message"]
            assert "ran in the sandbox and passed" in done["message"]
            report = tool_data(await client.call_tool("get_run", {"run_id": ctx.run_id}))
            assert report["complete"] is True and report["executed"] is True
        history = ctx.store.history(ctx.run_id, "code", "trainer.py")
        assert [a.metadata.get("repair", False) for a in history] == [False, True]


def tool_data(result: CallToolResult) -> dict:  # type: ignore[type-arg]
    assert not result.is_error, result.content[0].text if result.content else result  # type: ignore[union-attr]
    assert result.structured_content is not None
    return result.structured_content
