"""Each stage: prompt built from stored artifacts, answer validated, re-asked, stored, calls logged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from papercoder_mcp.errors import StageError, UnsafePath, ValidationFailed
from papercoder_mcp.models import Architecture, FileOrder
from papercoder_mcp.stages import (
    GENERATE_FILE,
    MAKE_PLAN,
    accept_answer,
    analyze_file,
    design_architecture,
    generate_file,
    make_plan,
    order_files,
    set_guidance,
    write_config,
)
from papercoder_mcp.stages.answers import extract_code, extract_json

from fake_model import FakeModel, FakeSampler
from pipeline_helpers import new_run

pytestmark = pytest.mark.anyio


async def plan_through_config(ctx) -> None:  # type: ignore[no-untyped-def]
    await make_plan(ctx)
    await design_architecture(ctx)
    await order_files(ctx)
    await write_config(ctx)


class TestPrompts:
    async def test_paper_goes_in_without_references_and_prefix_is_shared(self, tmp_path: Path) -> None:
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        await plan_through_config(ctx)
        await analyze_file(ctx, "model.py")
        await analyze_file(ctx, "utils.py")
        first = sampler.history[0]
        assert "Tiny Attention" in first.prefix[0]
        assert "A referenced work" not in first.user_text()
        # Every per-file call starts with the identical prefix: paper, plan, architecture, order, config.
        a, b = sampler.history[-2], sampler.history[-1]
        assert a.prefix == b.prefix and len(a.prefix) == 5
        assert a.system == b.system == first.system
        assert "`model.py`" in a.prompt and "`utils.py`" in b.prompt

    async def test_generate_gets_its_dependencies_code_and_the_interfaces_written_before(
        self, tmp_path: Path
    ) -> None:
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        await plan_through_config(ctx)
        for path in ["utils.py", "model.py", "dataset.py", "trainer.py", "evaluation.py"]:
            await analyze_file(ctx, path)
        for path in ["utils.py", "model.py", "dataset.py"]:
            await generate_file(ctx, path)
        await generate_file(ctx, "trainer.py")
        prompt = sampler.history[-1].prompt
        code_part, _, interfaces = prompt.partition("## Interfaces of the other files already written")
        assert "### `model.py`" in code_part and "### `dataset.py`" in code_part
        assert "utils.py" not in code_part  # not a direct dependency of trainer.py: no code ...
        assert (
            "### `utils.py`\n```python\ndef utils_step() -> int: ...\n```" in interfaces
        )  # ... its interface
        assert "evaluation.py" not in interfaces  # same level as trainer.py: generated beside it
        # main.py's prompt reads every file of a lower level, so it waits for evaluation.py.
        await analyze_file(ctx, "main.py")
        with pytest.raises(StageError, match=r"call generate_file\('evaluation.py'\) first"):
            await generate_file(ctx, "main.py")

    async def test_the_entry_point_owes_the_smoke_mode_and_a_test_module_its_asserts(
        self, tmp_path: Path
    ) -> None:
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        await plan_through_config(ctx)
        for path in ["utils.py", "model.py", "dataset.py", "trainer.py", "evaluation.py"]:
            await analyze_file(ctx, path)
            await generate_file(ctx, path)
        await analyze_file(ctx, "tests/test_model.py")
        await generate_file(ctx, "tests/test_model.py")
        assert "This is a pytest module, run with `python -m pytest -q tests`" in sampler.history[-1].prompt
        await analyze_file(ctx, "main.py")
        await generate_file(ctx, "main.py")
        prompt = sampler.history[-1].prompt
        assert "This is the entry point" in prompt and "`python main.py smoke` runs the smoke mode" in prompt
        assert "The smoke mode and the tests never need a null" in prompt

    async def test_a_changed_interface_makes_the_files_written_after_it_stale(self, tmp_path: Path) -> None:
        ctx = new_run(tmp_path, FakeSampler())
        await plan_through_config(ctx)
        for path in ["utils.py", "model.py", "dataset.py", "trainer.py"]:
            await analyze_file(ctx, path)
            await generate_file(ctx, path)
        utils = ctx.store.get_artifact(ctx.run_id, "code", "utils.py").content
        # A body change leaves utils.py's interface as it was: trainer.py (which reads only that) stays fresh.
        accept_answer(GENERATE_FILE, ctx, "utils.py", f"```python\n{utils}# same interface\n```")
        assert GENERATE_FILE.is_fresh(ctx, "trainer.py") and not GENERATE_FILE.is_fresh(ctx, "model.py")
        accept_answer(
            GENERATE_FILE,
            ctx,
            "utils.py",
            f"```python\n{utils}\ndef extra(x: int) -> int:\n    return x\n```",
        )
        assert not GENERATE_FILE.is_fresh(ctx, "trainer.py")

    async def test_guidance_is_kept_with_the_run(self, tmp_path: Path) -> None:
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        set_guidance(ctx, "make_plan", "", "Use PyTorch Lightning.")
        await make_plan(ctx)
        assert "Use PyTorch Lightning." in sampler.history[0].prompt
        # The same prompt renders again from the store alone, so the plan is fresh.
        assert MAKE_PLAN.is_fresh(ctx)


class TestValidation:
    async def test_invalid_json_is_reasked_with_the_error(self, tmp_path: Path) -> None:
        sampler = FakeSampler(overrides=["```json\n{not json\n```"])
        ctx = new_run(tmp_path, sampler)
        result = await make_plan(ctx)
        assert result.artifact.version == 1
        assert len(sampler.history) == 2
        reask = sampler.history[1].followups
        assert [t.role for t in reask] == ["assistant", "user"]
        assert "invalid JSON" in reask[1].text
        calls = ctx.store.calls(ctx.run_id, "make_plan")
        assert len(calls) == 2 and calls[0].error.startswith("invalid answer") and calls[1].error == ""

    async def test_stage_fails_after_two_reasks(self, tmp_path: Path) -> None:
        sampler = FakeSampler(overrides=["nope", "still nope", "no"])
        ctx = new_run(tmp_path, sampler)
        with pytest.raises(StageError, match="did not validate after 2 re-asks"):
            await make_plan(ctx)
        assert ctx.store.find_artifact(ctx.run_id, "plan") is None
        assert len(ctx.store.calls(ctx.run_id)) == 3

    async def test_architecture_without_its_entry_point_is_rejected(self, tmp_path: Path) -> None:
        bad = json.loads(
            extract_json(FakeModel().answer("design_architecture", "")[0]).__repr__().replace("'", '"')
        )
        bad["entry_point"] = "run.py"
        sampler = FakeSampler(overrides=[json.dumps(bad)])
        ctx = new_run(tmp_path, sampler)
        await make_plan(ctx)
        sampler.overrides = [json.dumps(bad)]
        await design_architecture(ctx)
        assert "entry_point 'run.py' is not in files" in sampler.history[-1].followups[-1].text

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"files": "no tests"}, "files has no test module: add tests/test_<module>.py"),
            ({"smoke_command": ""}, "smoke_command is empty"),
            ({"smoke_command": "bash run.sh"}, "must run the entry point 'main.py' with python"),
            ({"smoke_command": "python other.py smoke"}, "must run the entry point"),
        ],
    )
    async def test_architecture_without_its_proof_is_reasked(
        self, tmp_path: Path, change: dict[str, str], message: str
    ) -> None:
        bad = json.loads(FakeModel().answer("design_architecture", "")[0][8:-4])
        if change.get("files"):
            bad["files"] = [f for f in bad["files"] if not f["path"].startswith("tests/")]
        else:
            bad.update(change)
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        await make_plan(ctx)
        sampler.overrides = [json.dumps(bad)]
        result = await design_architecture(ctx)  # the re-ask gets the fake model's valid answer
        assert message in sampler.history[-1].followups[-1].text
        assert json.loads(result.artifact.content)["smoke_command"] == "python main.py smoke"

    async def test_smoke_command_may_be_a_flag_or_a_module_run(self) -> None:
        data = json.loads(FakeModel().answer("design_architecture", "")[0][8:-4])
        for command, argv in [
            ("python main.py --smoke", ["--smoke"]),
            ("python3 -m main smoke --steps 2", ["smoke", "--steps", "2"]),
        ]:
            assert Architecture.model_validate({**data, "smoke_command": command}).smoke_argv() == argv

    async def test_files_are_generated_level_by_level_and_code_never_waits_for_tests(self) -> None:
        arch = Architecture.model_validate(json.loads(FakeModel().answer("design_architecture", "")[0][8:-4]))
        order = FileOrder.model_validate(
            json.loads(FakeModel().answer("order_files", "")[0][8:-4]), context={"architecture": arch}
        )
        assert order.levels() == {
            "utils.py": 0,
            "dataset.py": 1,
            "model.py": 1,
            "trainer.py": 2,
            "evaluation.py": 2,
            "tests/test_model.py": 2,
            "main.py": 3,
        }
        assert order.written_before("trainer.py") == ["utils.py", "dataset.py", "model.py"]
        assert "tests/test_model.py" not in order.written_before("main.py")
        assert order.generation_order()[-1] == "main.py"

    async def test_a_test_module_must_depend_on_what_it_tests(self) -> None:
        arch = Architecture.model_validate(json.loads(FakeModel().answer("design_architecture", "")[0][8:-4]))
        order = json.loads(FakeModel().answer("order_files", "")[0][8:-4])
        for task in order["files"]:
            if task["path"] == "tests/test_model.py":
                task["depends_on"] = []
        with pytest.raises(ValueError, match="tests/test_model.py depends on no module it tests"):
            FileOrder.model_validate(order, context={"architecture": arch})

    @pytest.mark.parametrize(
        ("line", "message"),
        [
            ("  batch_size: null", "train.batch_size is null with no comment"),
            ("  batch_size: null  # not specified in the paper", "choose a sensible default"),
        ],
    )
    async def test_config_with_a_null_hyperparameter_is_reasked(
        self, tmp_path: Path, line: str, message: str
    ) -> None:
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        await make_plan(ctx)
        await design_architecture(ctx)
        await order_files(ctx)
        sampler.overrides = [f"```yaml\ntrain:\n  epochs: 10  # Section 2\n{line}\n```"]
        result = await write_config(ctx)
        assert message in sampler.history[-1].followups[-1].text
        assert "# not in the paper: chosen default" in result.artifact.content

    def test_a_null_input_path_may_say_what_the_paper_does_not_report(self) -> None:
        from papercoder_mcp.configfile import check_config_rules

        text = (
            "tasks:\n  raphael:\n"
            "    fid_reference_path: null  # folder of Raphael's paintings (only 10 exist; FID not reported)\n"
            "    batch_size: null  # not reported in the paper\n"
        )
        problems = check_config_rules(text)
        assert len(problems) == 1 and problems[0].startswith("tasks.raphael.batch_size is null because")

    async def test_file_order_rejects_cycles_unknown_files_and_bad_order(self, tmp_path: Path) -> None:
        arch = Architecture.model_validate(json.loads(FakeModel().answer("design_architecture", "")[0][8:-4]))
        good = json.loads(FakeModel().answer("order_files", "")[0][8:-4])
        FileOrder.model_validate(good, context={"architecture": arch})
        cyclic = json.loads(json.dumps(good))
        cyclic["files"][0]["depends_on"] = ["main.py"]
        with pytest.raises(ValueError, match="dependency cycle"):
            FileOrder.model_validate(cyclic, context={"architecture": arch})
        unknown = json.loads(json.dumps(good))
        unknown["files"].append({"path": "extra.py", "purpose": "", "logic": ""})
        unknown["order"].append("extra.py")
        with pytest.raises(ValueError, match="not in the architecture"):
            FileOrder.model_validate(unknown, context={"architecture": arch})
        backwards = json.loads(json.dumps(good))
        backwards["order"] = list(reversed(good["order"]))
        with pytest.raises(ValueError, match="before its dependencies"):
            FileOrder.model_validate(backwards, context={"architecture": arch})

    @pytest.mark.parametrize("path", ["/etc/passwd", "../outside.py", "a/../../b.py", "C:/x.py", "~/x.py"])
    async def test_hostile_paths_in_a_design_are_rejected(self, path: str) -> None:
        data = json.loads(FakeModel().answer("design_architecture", "")[0][8:-4])
        data["files"].append({"path": path, "purpose": "evil"})
        with pytest.raises(ValueError, match="absolute|climbs out|does not name"):
            Architecture.model_validate(data)

    async def test_config_numbers_load_as_numbers(self, tmp_path: Path) -> None:
        ctx = new_run(tmp_path, FakeSampler())
        await plan_through_config(ctx)
        art = ctx.store.get_artifact(ctx.run_id, "config")
        assert yaml.safe_load(art.content)["train"]["learning_rate"] == pytest.approx(1e-4)
        assert "# Section 5" in art.content  # comments survive the rewrite
        assert art.metadata["rewritten_numbers"] == ["1e-4 -> 1.0e-4"]

    async def test_python_that_does_not_compile_is_reasked_once(self, tmp_path: Path) -> None:
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        await plan_through_config(ctx)
        await analyze_file(ctx, "utils.py")
        sampler.overrides = ["```python\ndef broken(:\n```", "```python\ndef broken(:\n```"]
        with pytest.raises(StageError, match="SyntaxError in utils.py line 1"):
            await generate_file(ctx, "utils.py")
        assert len(ctx.store.calls(ctx.run_id, "generate_file")) == 2  # one re-ask, then it gives up

    async def test_stubs_are_warned_of_by_verification_rules_not_by_a_word(self, tmp_path: Path) -> None:
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        await plan_through_config(ctx)
        await analyze_file(ctx, "utils.py")
        code = (
            "class Problem:\n    def residual(self, x):\n        raise NotImplementedError\n\n\n"
            "class Wave(Problem):\n    def residual(self, x):\n        return x\n\n\n"
            "def pick(name):\n    if name == 'wave':\n        return Wave()\n    raise NotImplementedError(name)\n\n\n"
            "def train(x):\n    pass\n"
        )
        sampler.overrides = [f"```python\n{code}```"]
        result = await generate_file(ctx, "utils.py")
        # A base-class hook and an unsupported option are not stubs; an empty train() is.
        assert result.warnings == [
            "utils.py has placeholders: line 17: train() has no body (only pass, ... or a docstring)"
        ]

    async def test_prose_around_the_code_block_never_lands_in_the_file(self) -> None:
        assert extract_code("Sure! Here it is:\n```python\nx = 1\n```\nHope this helps.") == "x = 1\n"
        with pytest.raises(ValidationFailed, match="2 fenced code blocks"):
            extract_code("```python\nx = 1\n```\ntext\n```python\ny = 2\n```")
        with pytest.raises(ValidationFailed, match="truncated"):
            extract_code("```python\nx = 1\n")

    async def test_stage_before_its_inputs_says_what_to_call(self, tmp_path: Path) -> None:
        ctx = new_run(tmp_path, FakeSampler())
        with pytest.raises(StageError, match="call make_plan first"):
            await design_architecture(ctx)
        await plan_through_config(ctx)
        with pytest.raises(StageError, match=r"call analyze_file\('model.py'\) first"):
            await generate_file(ctx, "model.py")
        with pytest.raises(StageError, match="is not a file of run"):
            await analyze_file(ctx, "nope.py")
        with pytest.raises(UnsafePath):
            await analyze_file(ctx, "../../etc/passwd")


class TestResume:
    async def test_unchanged_inputs_make_no_call(self, tmp_path: Path) -> None:
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        await make_plan(ctx)
        again = await make_plan(ctx)
        assert again.skipped and len(sampler.history) == 1

    async def test_an_edit_makes_downstream_stale(self, tmp_path: Path) -> None:
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        await plan_through_config(ctx)
        plan = json.loads(ctx.store.get_artifact(ctx.run_id, "plan").content)
        plan["summary"] = "An edited summary."
        edited = accept_answer(MAKE_PLAN, ctx, "", json.dumps(plan), source="edit")
        assert edited.artifact.version == 2
        assert MAKE_PLAN.is_fresh(ctx)  # the edit itself is current, not redone
        calls = len(sampler.history)
        again = await design_architecture(ctx)
        assert not again.skipped and len(sampler.history) == calls + 1
        assert "An edited summary." in sampler.history[-1].user_text()

    async def test_an_agent_answer_is_validated_like_a_model_answer(self, tmp_path: Path) -> None:
        ctx = new_run(tmp_path, FakeSampler())
        with pytest.raises(ValidationFailed) as info:
            accept_answer(MAKE_PLAN, ctx, "", '{"summary": ""}')
        assert any("methodology" in e for e in info.value.errors)
        assert GENERATE_FILE.current(ctx, "main.py") is None
