"""Hostile input through the public surfaces (MCP tools in process, the CLI): refused, clearly, and
nothing written outside the output folder. One class per item of issue 11 (the smoke sandbox, the
run lease and the server's responsiveness are tested where they are built)."""

from __future__ import annotations

import gzip
import io
import json
import os
import shlex
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.types import CallToolResult
from typer.testing import CliRunner

from papercoder_mcp.cli import app as cli_app
from papercoder_mcp.cli.serve import BearerAuth
from papercoder_mcp.errors import LimitExceeded
from papercoder_mcp.ids import HandoffId
from papercoder_mcp.limits import parse_python
from papercoder_mcp.pipeline.gitcommit import commit_tree
from papercoder_mcp.pipeline.orchestrator import run_pipeline
from papercoder_mcp.samplers.anthropic import AnthropicSampler
from papercoder_mcp.server.build import build_server
from papercoder_mcp.store import Store

from fake_anthropic import FakeAnthropic
from fake_model import FakeModel, FakeSampler, fake_model_responder
from mcp_helpers import PAPER_MD, ModelCallback
from pipeline_helpers import new_run

pytestmark = pytest.mark.anyio
runner = CliRunner()

PLAN = FakeModel().answer("make_plan", "")[0]
FILES = ["main.py", "model.py"]


def architecture(paths: list[str], entry: str = "main.py") -> str:
    # A design plans its own proof (a test module, a smoke command); the hostile part is `paths`.
    return json.dumps(
        {
            "implementation_approach": "one module per concern",
            "files": [{"path": p, "purpose": "part of the method"} for p in [*paths, "tests/test_model.py"]],
            "entry_point": entry,
            "smoke_command": f"python {entry} smoke",
            "class_diagram": "classDiagram\n    class Model",
            "sequence_diagram": "sequenceDiagram\n    main->>model: run()",
            "plan_map": [{"item": "C1", "files": [entry]}, {"item": "E1", "files": [entry]}],
        }
    )


def file_order(packages: list[dict[str, str]]) -> str:
    return json.dumps(
        {
            "required_packages": packages,
            "files": [
                {"path": "model.py", "purpose": "model", "logic": "the model", "depends_on": []},
                {"path": "main.py", "purpose": "entry", "logic": "runs it", "depends_on": ["model.py"]},
                {
                    "path": "tests/test_model.py",
                    "purpose": "tests",
                    "logic": "shapes",
                    "depends_on": ["model.py"],
                },
            ],
            "order": ["model.py", "main.py", "tests/test_model.py"],
        }
    )


def data(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text if result.content else result  # type: ignore[union-attr]
    assert result.structured_content is not None
    return result.structured_content


def error_text(result: CallToolResult) -> str:
    assert result.is_error, result.structured_content
    return result.content[0].text  # type: ignore[union-attr]


async def submit(client: Client, tool: str, run_id: str, content: str) -> CallToolResult:
    handed = data(await client.call_tool(tool, {"run_id": run_id}))
    assert handed["status"] == "handoff", handed
    return await client.call_tool(
        "submit_artifact", {"handoff_id": handed["handoff"]["handoff_id"], "content": content}
    )


async def start(client: Client, tmp_path: Path) -> str:
    paper = tmp_path / "paper.md"
    paper.write_text(PAPER_MD)
    return str(data(await client.call_tool("parse_paper", {"path": str(paper)}))["run_id"])


def snapshot(root: Path) -> set[str]:
    """Every path under root, to show that a refused call wrote nothing."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


class TestPathPolicy:
    HOSTILE = [
        ([".git/config", "main.py"], ".git"),
        (["pkg/.git/hooks/pre-commit", "main.py"], ".git"),
        ([".GIT/config", "main.py"], ".git"),
        ([".git", "main.py"], ".git"),
        (["Main.py", "main.py"], "differ only in case"),
        (["Src/a.py", "src/b.py", "main.py"], "differ only in case"),
        (["a.py", "a.py/b.py", "main.py"], "is a file and also a folder"),
        (["readme.md", "main.py"], "written by its own stage or by export"),
        (["ev\nil.py", "main.py"], "U+000A"),
        (["ev\til.py", "main.py"], "U+0009"),
        (["ev\u202eyp.li", "main.py"], "U+202E RIGHT-TO-LEFT OVERRIDE"),
        (["ev\u200bil.py", "main.py"], "U+200B ZERO WIDTH SPACE"),
        (["x" * 300 + ".py", "main.py"], "MAX_PATH_CHARS"),
        (["y" * 150 + ".py", "main.py"], "MAX_COMPONENT_CHARS"),
        (["/".join(["d"] * 2500) + "/a.py", "main.py"], "MAX_PATH_CHARS"),
        (["/".join(["d"] * 40) + "/a.py", "main.py"], "MAX_PATH_DEPTH"),
        (["../up.py", "main.py"], "climbs out"),
    ]

    @pytest.mark.parametrize(("paths", "rule"), HOSTILE)
    async def test_a_hostile_file_list_is_refused_by_submit_artifact(
        self, tmp_path: Path, paths: list[str], rule: str
    ) -> None:
        store = Store(tmp_path / "s.db")
        async with Client(build_server(store)) as client:
            run_id = await start(client, tmp_path)
            data(await submit(client, "make_plan", run_id, PLAN))
            text = error_text(await submit(client, "design_architecture", run_id, architecture(paths)))
        assert rule in text and "the edit was not stored" not in text
        assert store.find_artifact(run_id, "architecture") is None

    async def test_a_forged_handoff_id_with_a_hostile_key_is_refused(self, tmp_path: Path) -> None:
        store = Store(tmp_path / "s.db")
        async with Client(build_server(store)) as client:
            run_id = await start(client, tmp_path)
            forged = HandoffId(
                run_id=run_id, stage="generate_file", key=".git/config", digest="0" * 16
            ).encode()
            text = error_text(
                await client.call_tool("submit_artifact", {"handoff_id": forged, "content": "```\nx\n```"})
            )
        assert "'.git/config'" in text and ".git" in text
        assert store.find_artifact(run_id, "code", ".git/config") is None

    async def test_nfc_forms_are_one_file(self, tmp_path: Path) -> None:
        store = Store(tmp_path / "s.db")
        async with Client(build_server(store)) as client:
            run_id = await start(client, tmp_path)
            data(await submit(client, "make_plan", run_id, PLAN))
            decomposed = "cafe\u0301.py"
            text = error_text(
                await submit(
                    client,
                    "design_architecture",
                    run_id,
                    architecture(["caf\u00e9.py", decomposed, "main.py"]),
                )
            )
        assert "files listed twice: caf\u00e9.py" in text

    async def test_the_api_answer_and_an_edit_are_refused_the_same_way(self, tmp_path: Path) -> None:
        store = Store(tmp_path / "s.db")
        fake = FakeModel(files={".git/config": [], "main.py": []})
        with FakeAnthropic(fake_model_responder(fake)) as api:
            sampler = AnthropicSampler(api_key="test", base_url=api.base_url, backoff_base=0.01)
            async with Client(build_server(store, anthropic_sampler=sampler)) as client:
                run_id = await start(client, tmp_path)
                data(await client.call_tool("make_plan", {"run_id": run_id}))
                text = error_text(await client.call_tool("design_architecture", {"run_id": run_id}))
                assert "'.git/config'" in text and "nothing may be written into or as a .git" in text
                assert store.find_artifact(run_id, "architecture") is None
                edited = await client.call_tool(
                    "edit_artifact",
                    {
                        "run_id": run_id,
                        "kind": "architecture",
                        "content": architecture([".git/config", "main.py"]),
                    },
                )
                assert ".git" in error_text(edited)
                code = await client.call_tool(
                    "edit_artifact",
                    {"run_id": run_id, "kind": "code", "path": "a\u202e.py", "content": "x = 1\n"},
                )
                assert "U+202E" in error_text(code)
            await sampler.aclose()
        assert store.find_artifact(run_id, "architecture") is None

    def test_cli_export_refuses_a_stored_file_order_from_before_the_policy(self, tmp_path: Path) -> None:
        ctx = new_run(tmp_path)
        # Written straight into the store, as a version without the policy would have.
        order = json.loads(file_order([]))
        order["files"].append({"path": "Model.py", "purpose": "twin", "logic": "x", "depends_on": []})
        order["order"].append("Model.py")
        ctx.store.put_artifact(ctx.run_id, "architecture", architecture([*FILES, "Model.py"]), format="json")
        ctx.store.put_artifact(ctx.run_id, "file_order", json.dumps(order), format="json")
        out = tmp_path / "out"
        result = runner.invoke(cli_app, ["--db", str(ctx.store.path), "export", ctx.run_id, str(out)])
        assert result.exit_code != 0
        assert "differ only in case" in result.output
        assert not out.exists()


class TestGitNeverObeysTheTree:
    async def test_an_answer_planting_git_config_is_refused_and_runs_nothing(self, tmp_path: Path) -> None:
        marker = tmp_path / "pwned"
        config = f'[core]\n\tfsmonitor = "touch {marker}"\n'
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        await run_pipeline(ctx.store, ctx.run_id, sampler)
        out = tmp_path / "out"
        async with Client(build_server(ctx.store)) as client:
            data(await submit(client, "make_plan", (run_id := await start(client, tmp_path)), PLAN))
            text = error_text(
                await submit(client, "design_architecture", run_id, architecture([".git/config", "main.py"]))
            )
            assert "'.git/config'" in text
            # The same file as an edit of a finished run, then an export: refused, nothing runs.
            for path in [".git/config", "pkg/.git/config", ".git"]:
                edited = await client.call_tool(
                    "edit_artifact", {"run_id": ctx.run_id, "kind": "code", "path": path, "content": config}
                )
                assert "nothing may be written into or as a .git" in error_text(edited)
            data(await client.call_tool("export_repo", {"run_id": ctx.run_id, "out_dir": str(out)}))
        assert not marker.exists()
        if shutil.which("git"):
            assert "fsmonitor" not in (out / ".git" / "config").read_text()
        assert ctx.store.find_artifact(ctx.run_id, "code", ".git/config") is None

    @pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
    def test_a_planted_config_and_the_users_git_config_do_not_act(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        marker = tmp_path / "pwned"
        touch = f"touch {shlex.quote(str(marker))}"
        tree = tmp_path / "tree"
        (tree / ".git" / "hooks").mkdir(parents=True)
        (tree / ".git" / "config").write_text(
            f'[core]\n\tfsmonitor = "{touch}"\n\thooksPath = .git/hooks\n[filter "x"]\n\tclean = {touch}\n'
        )
        hook = tree / ".git" / "hooks" / "pre-commit"
        hook.write_text(f"#!/bin/sh\n{touch}\n")
        hook.chmod(0o755)
        (tree / ".gitattributes").write_text("* filter=x\n")
        (tree / "main.py").write_text("print('hi')\n")
        # The user's own git configuration must not act either (a hook path, an fsmonitor, a filter).
        home = tmp_path / "home"
        home.mkdir(exist_ok=True)
        (home / ".gitconfig").write_text(
            f'[core]\n\tfsmonitor = "{touch}"\n\thooksPath = {tree / ".git" / "hooks"}\n'
            f'[filter "x"]\n\tclean = {touch}\n'
        )
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
        commit = commit_tree(tree, "test")
        assert len(commit) == 40
        assert not marker.exists()
        # The planted .git was replaced by a fresh repository holding the commit.
        log = subprocess.run(
            ["git", "-C", str(tree), "log", "--format=%H"], capture_output=True, text=True, check=True,
            env={"PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path / "empty")},
        )  # fmt: skip
        assert log.stdout.strip() == commit
        assert "fsmonitor" not in (tree / ".git" / "config").read_text()

    def test_a_git_folder_deeper_in_the_tree_is_refused(self, tmp_path: Path) -> None:
        tree = tmp_path / "tree"
        (tree / "pkg" / ".git").mkdir(parents=True)
        (tree / "pkg" / ".git" / "config").write_text("[core]\n")
        (tree / "sub").mkdir()
        (tree / "sub" / ".git").write_text(f"gitdir: {tmp_path / 'elsewhere'}\n")
        if shutil.which("git") is None:
            pytest.skip("git is not installed")
        from papercoder_mcp.errors import UnsafePath

        with pytest.raises(UnsafePath, match=r"pkg/\.git.*sub/\.git"):
            commit_tree(tree, "test")
        assert not (tree / ".git").exists()


class TestRequirements:
    @pytest.mark.parametrize(
        ("package", "said"),
        [
            ({"name": "--index-url http://evil/simple"}, "is a pip option"),
            ({"name": "-e git+https://evil/x.git#egg=x"}, "is a pip option"),
            ({"name": "-r other.txt"}, "is a pip option"),
            ({"name": "torch", "version": " @ https://evil/torch.whl"}, "is a URL"),
            ({"name": "torch @ file:///tmp/x.whl"}, "is a URL"),
            ({"name": "numpy\n--extra-index-url http://evil"}, "spans several lines"),
            ({"name": "numpy", "version": ">=1 --hash=sha256:00"}, "not a PEP 508 requirement"),
        ],
    )
    async def test_options_urls_and_direct_references_are_refused(
        self, tmp_path: Path, package: dict[str, str], said: str
    ) -> None:
        store = Store(tmp_path / "s.db")
        async with Client(build_server(store)) as client:
            run_id = await start(client, tmp_path)
            data(await submit(client, "make_plan", run_id, PLAN))
            data(await submit(client, "design_architecture", run_id, architecture(FILES)))
            text = error_text(await submit(client, "order_files", run_id, file_order([package])))
        assert said in text and "required_packages" in text
        assert store.find_artifact(run_id, "file_order") is None

    async def test_plain_requirements_with_markers_and_extras_are_kept(self, tmp_path: Path) -> None:
        store = Store(tmp_path / "s.db")
        packages = [
            {"name": "torch", "version": ">=2.0"},
            {"name": "numpy", "version": '; python_version < "3.13"'},
            {"name": "jax[cpu]", "version": "0.4.30"},
        ]
        async with Client(build_server(store)) as client:
            run_id = await start(client, tmp_path)
            data(await submit(client, "make_plan", run_id, PLAN))
            data(await submit(client, "design_architecture", run_id, architecture(FILES)))
            data(await submit(client, "order_files", run_id, file_order(packages)))

    async def test_a_generated_requirements_file_is_checked_too(self, tmp_path: Path) -> None:
        class WithRequirements(FakeModel):
            def code_for(self, path: str, repaired: bool = False) -> str:
                if path.endswith("requirements.txt"):
                    return "numpy>=1\n"
                return super().code_for(path, repaired=repaired)

        fake = WithRequirements(files={"utils.py": [], "envs/requirements.txt": [], "main.py": ["utils.py"]})
        store = Store(tmp_path / "s.db")
        async with Client(build_server(store), sampling_callback=ModelCallback(fake)) as client:
            run_id = await start(client, tmp_path)
            for _ in range(5):
                if data(await client.call_tool("run_pipeline", {"run_id": run_id}))["status"] == "verified":
                    break
            else:
                raise AssertionError("run_pipeline did not finish in 5 calls")
            text = error_text(
                await client.call_tool(
                    "edit_artifact",
                    {
                        "run_id": run_id,
                        "kind": "code",
                        "path": "envs/requirements.txt",
                        "content": "--index-url http://evil/simple\nnumpy\n",
                    },
                )
            )
        assert "envs/requirements.txt line 1" in text and "pip option" in text
        assert store.get_artifact(run_id, "code", "envs/requirements.txt").content == "numpy>=1\n"


class TestShellQuoting:
    async def test_the_entry_point_is_quoted_in_reproduce_sh_and_the_readme(self, tmp_path: Path) -> None:
        entry = "run $(touch pwned) '$(touch pwned2)';x.py"  # a single quote breaks naive quoting

        class HostileEntry(FakeModel):
            def code_for(self, path: str, repaired: bool = False) -> str:
                if path != entry:
                    return super().code_for(path, repaired=repaired)
                return (
                    "import argparse\n\nfrom utils import utils_step\n\n\n"
                    "def main() -> None:\n"
                    "    parser = argparse.ArgumentParser()\n"
                    '    sub = parser.add_subparsers(dest="command", required=True)\n'
                    '    sub.add_parser("smoke")\n'
                    "    parser.parse_args()\n"
                    "    print(utils_step())\n\n\n"
                    'if __name__ == "__main__":\n    main()\n'
                )

        fake = HostileEntry(files={"utils.py": [], entry: ["utils.py"]}, entry_point=entry)
        sampler = FakeSampler(fake=fake)
        ctx = new_run(tmp_path, sampler)
        await run_pipeline(ctx.store, ctx.run_id, sampler)
        db_result = runner.invoke(
            cli_app,
            ["--db", str(ctx.store.path), "export", ctx.run_id, str(tmp_path / "out"), "--allow-findings"],
        )
        assert db_result.exit_code == 0, db_result.output
        out = tmp_path / "out"
        line = next(ln for ln in (out / "reproduce.sh").read_text().splitlines() if ln.startswith("python "))
        assert shlex.split(line) == ["python", entry, "smoke"]
        readme_lines = [
            ln.split("  #")[0]
            for ln in (out / "README.md").read_text().splitlines()
            if ln.startswith("python ")
        ]
        assert ["python", entry, "smoke"] in [shlex.split(ln) for ln in readme_lines]
        # What bash makes of the line: one argument, nothing run.
        echoed = subprocess.run(
            ["bash", "-c", line.replace("python ", "printf '%s\\n' ", 1), "bash"],
            cwd=tmp_path, capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert echoed.stdout == entry + "\nsmoke\n"
        assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()


async def exported_run(tmp_path: Path) -> tuple[Path, str, Path]:
    sampler = FakeSampler()
    ctx = new_run(tmp_path, sampler)
    assert (await run_pipeline(ctx.store, ctx.run_id, sampler)).status == "verified"
    out = tmp_path / "repo"
    result = runner.invoke(cli_app, ["--db", str(ctx.store.path), "export", ctx.run_id, str(out)])
    assert result.exit_code == 0, result.output
    return ctx.store.path, ctx.run_id, out


class TestForceReplacesOnlyItsOwnFiles:
    async def test_the_marker_lists_every_file_with_its_hash(self, tmp_path: Path) -> None:
        import hashlib

        _, run_id, out = await exported_run(tmp_path)
        marker = json.loads((out / ".papercoder-export.json").read_text())
        assert (
            marker["run_id"] == run_id and "main.py" in marker["files"] and "reproduce.sh" in marker["files"]
        )
        for rel, digest in marker["files"].items():
            assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest

    async def test_a_marker_export_did_not_write_is_refused(self, tmp_path: Path) -> None:
        db, run_id, _ = await exported_run(tmp_path)
        victim = tmp_path / "project"
        (victim / "src").mkdir(parents=True)
        (victim / "src" / "work.py").write_text("precious\n")
        (victim / ".papercoder-export.json").write_text(json.dumps({"run_id": run_id}))
        before = snapshot(victim)
        result = runner.invoke(cli_app, ["--db", str(db), "export", run_id, str(victim), "--force"])
        assert result.exit_code != 0
        assert "that export did not write (it lacks the list of files export writes)" in result.output
        assert snapshot(victim) == before and (victim / "src" / "work.py").read_text() == "precious\n"

    async def test_unlisted_files_stay_and_changed_or_clashing_ones_refuse(self, tmp_path: Path) -> None:
        db, run_id, out = await exported_run(tmp_path)
        (out / "notes.txt").write_text("mine\n")
        result = runner.invoke(cli_app, ["--db", str(db), "export", run_id, str(out), "--force"])
        assert result.exit_code == 0, result.output
        assert (out / "notes.txt").read_text() == "mine\n" and (out / "main.py").exists()
        # A listed file the user changed: --force would lose the change.
        (out / "model.py").write_text("# my fix\n")
        result = runner.invoke(cli_app, ["--db", str(db), "export", run_id, str(out), "--force"])
        assert result.exit_code != 0 and "changed since" in result.output and "model.py" in result.output
        assert (out / "model.py").read_text() == "# my fix\n"
        (out / "model.py").unlink()
        # A file the marker does not list, where the new export would write: refused, kept.
        marker = json.loads((out / ".papercoder-export.json").read_text())
        del marker["files"]["utils.py"]
        (out / ".papercoder-export.json").write_text(json.dumps(marker))
        (out / "utils.py").write_text("# not from the export\n")
        result = runner.invoke(cli_app, ["--db", str(db), "export", run_id, str(out), "--force"])
        assert result.exit_code != 0 and "utils.py is not from the earlier export" in result.output
        assert (out / "utils.py").read_text() == "# not from the export\n"
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".papercoder-export-")) == []


class TestBoundedWork:
    def test_an_operator_chain_is_refused_before_ast_and_parsing_still_works_after(self) -> None:
        chain = "x = " + "1+" * 100_000 + "1\n"
        with pytest.raises(LimitExceeded, match="MAX_OPERATORS_PER_STATEMENT"):
            parse_python(chain, "main.py")
        # Nothing reached ast, so this thread's parser state is intact for ordinary code.
        assert parse_python("y = 1 + 2 * 3\n").body
        assert parse_python("s = 'a' + '+-' * 900\n").body  # operators inside strings do not count

    async def test_a_nested_bracket_answer_is_refused_by_the_json_depth_cap(self, tmp_path: Path) -> None:
        store = Store(tmp_path / "s.db")
        async with Client(build_server(store)) as client:
            run_id = await start(client, tmp_path)
            text = error_text(await submit(client, "make_plan", run_id, "[" * 100_000))
            assert "MAX_JSON_DEPTH" in text
            text = error_text(
                await submit(client, "make_plan", run_id, '{"summary": "' + "x" * 600_000 + '"}')
            )
            assert "MAX_ANSWER_CHARS" in text
        assert store.find_artifact(run_id, "plan") is None

    async def test_deep_python_is_refused_before_it_reaches_the_compiler(self, tmp_path: Path) -> None:
        store = Store(tmp_path / "s.db")
        async with Client(build_server(store), sampling_callback=ModelCallback()) as client:
            run_id = await start(client, tmp_path)
            for _ in range(5):
                if data(await client.call_tool("run_pipeline", {"run_id": run_id}))["status"] == "verified":
                    break
            else:
                raise AssertionError("run_pipeline did not finish in 5 calls")
            for code, cap in [
                ("x = " + "[" * 150 + "]" * 150 + "\n", "MAX_CODE_DEPTH"),
                ("x = " + "1+" * 100_000 + "1\n", "MAX_OPERATORS_PER_STATEMENT"),
                (
                    "".join(" " * i + f"if x{i}:\n" for i in range(120)) + " " * 120 + "pass\n",
                    "MAX_CODE_DEPTH",
                ),
            ]:
                edited = await client.call_tool(
                    "edit_artifact", {"run_id": run_id, "kind": "code", "path": "main.py", "content": code}
                )
                assert cap in error_text(edited)

    async def test_verification_turns_a_planted_deep_file_into_a_finding(self, tmp_path: Path) -> None:
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        await run_pipeline(ctx.store, ctx.run_id, sampler)
        # Straight into the store, bypassing validation: verification must still not crash.
        ctx.store.put_artifact(
            ctx.run_id, "code", "x = " + "1+" * 100_000 + "1\n", key="main.py", format="python"
        )
        async with Client(build_server(ctx.store)) as client:
            result = data(await client.call_tool("verify_repo", {"run_id": ctx.run_id}))
        assert any(f["file"] == "main.py" and f["kind"] == "syntax_error" for f in result["findings"])

    async def test_a_yaml_alias_bomb_fails_fast_in_an_edit_and_in_verification(self, tmp_path: Path) -> None:
        bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
        )
        assert len(bomb) < 600
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        await run_pipeline(ctx.store, ctx.run_id, sampler)
        async with Client(build_server(ctx.store)) as client:
            text = error_text(
                await client.call_tool(
                    "edit_artifact", {"run_id": ctx.run_id, "kind": "config", "content": bomb}
                )
            )
            assert "YAML aliases" in text
            # A bomb already in the store (from before the cap): the verification export runs
            # reports it as a finding instead of expanding it.
            ctx.store.put_artifact(ctx.run_id, "config", bomb, format="yaml")
            result = data(await client.call_tool("verify_repo", {"run_id": ctx.run_id}))
        found = [f for f in result["findings"] if f["file"] == "config.yaml" and f["severity"] == "error"]
        assert found and "YAML aliases" in found[0]["message"]

    async def test_an_input_fan_out_is_refused_by_the_repeat_cap(self, tmp_path: Path) -> None:
        src = tmp_path / "src"
        src.mkdir()
        (src / "main.tex").write_text(
            "\\documentclass{article}\n\\begin{document}\n\\section{A}\n"
            + "\\input{l1}\n" * 10
            + "\\end{document}\n"
        )
        for level in range(1, 6):
            (src / f"l{level}.tex").write_text(
                f"\\input{{l{level + 1}}}\n" * 10 if level < 5 else "leaf text\n"
            )
        async with Client(build_server(Store(tmp_path / "s.db"))) as client:
            text = error_text(await client.call_tool("parse_paper", {"path": str(src)}))
        assert "MAX_INPUT_REPEATS" in text

    @pytest.mark.parametrize(
        ("body", "cap"),
        [
            ("{" * 50_000 + "x" + "}" * 50_000, "MAX_TEX_NESTING"),
            ("\\begin{itemize}\\item " * 3_000 + "x" + "\\end{itemize}" * 3_000, "MAX_TEX_NESTING"),
            ("\\zm", "MAX_MACRO_EXPANSIONS"),
        ],
        ids=["braces", "environments", "macro-bomb"],
    )
    async def test_deep_or_exploding_latex_is_refused_naming_the_cap(
        self, tmp_path: Path, body: str, cap: str
    ) -> None:
        # \za is 2 words, \zb four \za, ... \zm four \zl: 4^12 expansions.
        defs = "\\newcommand{\\za}{lol lol}\n" + "".join(
            f"\\newcommand{{\\z{chr(98 + i)}}}{{" + f"\\z{chr(97 + i)}" * 4 + "}\n" for i in range(12)
        )
        tex = tmp_path / "main.tex"
        tex.write_text(
            "\\documentclass{article}\n"
            + defs
            + "\\begin{document}\n\\section{A}\n"
            + body
            + "\n\\end{document}\n"
        )
        async with Client(build_server(Store(tmp_path / "s.db"))) as client:
            text = error_text(await client.call_tool("parse_paper", {"path": str(tex)}))
        assert cap in text

    async def test_a_gzip_bomb_is_refused_without_unpacking_it(self, tmp_path: Path) -> None:
        # Gzip members concatenate: one member of 10 MB of zeros, thirty times, is 300 MB unpacked.
        head = gzip.compress(
            b"\\documentclass{article}\n\\begin{document}\n\\section{A}\n" + b"%" * 1000 + b"\n"
        )
        block = gzip.compress(b"\0" * (10 << 20), compresslevel=9)
        bomb = tmp_path / "2401.00001.tex.gz"
        bomb.write_bytes(head + block * 30)
        assert bomb.stat().st_size < 600_000
        async with Client(build_server(Store(tmp_path / "s.db"))) as client:
            text = error_text(await client.call_tool("parse_paper", {"path": str(bomb)}))
        assert "MAX_MEMBER_BYTES" in text

    async def test_a_tar_member_over_the_cap_is_refused_from_its_header(self, tmp_path: Path) -> None:
        tar_path = tmp_path / "2401.00002.tar.gz"
        with tarfile.open(tar_path, "w:gz") as tf:
            info = tarfile.TarInfo("main.tex")
            info.size = 60 << 20
            tf.addfile(info, io.BytesIO(b"\0" * info.size))
        async with Client(build_server(Store(tmp_path / "s.db"))) as client:
            text = error_text(await client.call_tool("parse_paper", {"path": str(tar_path)}))
        assert "MAX_MEMBER_BYTES" in text


class TestHttpAuth:
    TOKEN = "t" * 40

    async def inner(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})

    async def request(self, headers: list[tuple[str, str]]) -> httpx2.Response:
        transport = httpx2.ASGITransport(app=BearerAuth(self.inner, self.TOKEN))  # type: ignore[arg-type]
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.get("/mcp", headers=headers)

    async def test_the_scheme_is_case_insensitive(self) -> None:
        for scheme in ("Bearer", "bearer", "BEARER"):
            assert (await self.request([("Authorization", f"{scheme} {self.TOKEN}")])).status_code == 200

    async def test_duplicate_and_wrong_authorization_headers_are_refused(self) -> None:
        twice = await self.request(
            [("Authorization", "Bearer wrong"), ("Authorization", f"Bearer {self.TOKEN}")]
        )
        assert twice.status_code == 400 and "more than one Authorization header" in twice.json()["error"]
        assert (await self.request([("Authorization", "Bearer wrong")])).status_code == 401
        assert (await self.request([("Authorization", f"Basic {self.TOKEN}")])).status_code == 401
        assert (await self.request([])).status_code == 401

    def test_a_short_token_off_loopback_does_not_start(self, tmp_path: Path) -> None:
        result = runner.invoke(
            cli_app, ["--db", str(tmp_path / "s.db"), "serve", "--http", "--host", "0.0.0.0", "--token", "x"]
        )
        assert result.exit_code != 0 and "at least 32 characters" in result.output
        assert not (tmp_path / "s.db").exists()


class TestBoundedApiAnswersAndFiles:
    async def test_a_nesting_bomb_from_the_api_is_refused_naming_the_cap(self, tmp_path: Path) -> None:
        from fake_anthropic import Reply

        def respond(body: dict[str, Any]) -> Any:
            return Reply(text="[" * 20_000)  # under max_tokens, so the fake sends it whole

        store = Store(tmp_path / "s.db")
        with FakeAnthropic(respond) as api:
            sampler = AnthropicSampler(api_key="test", base_url=api.base_url, backoff_base=0.01)
            async with Client(build_server(store, anthropic_sampler=sampler)) as client:
                run_id = await start(client, tmp_path)
                text = error_text(await client.call_tool("make_plan", {"run_id": run_id}))
            await sampler.aclose()
        assert "MAX_JSON_DEPTH" in text and "0 re-asks" in text
        assert store.find_artifact(run_id, "plan") is None
        assert len(api.requests) == 1  # over a cap: not re-asked (that would resend the bomb)

    async def test_a_deep_rubric_file_is_refused_before_parsing(self, tmp_path: Path) -> None:
        sampler = FakeSampler()
        ctx = new_run(tmp_path, sampler)
        await run_pipeline(ctx.store, ctx.run_id, sampler)
        rubric = tmp_path / "rubric.json"
        rubric.write_text('{"sub_tasks": [' * 5_000)
        async with Client(build_server(ctx.store)) as client:
            result = await client.call_tool(
                "evaluate_repo", {"run_id": ctx.run_id, "mode": "rubric", "rubric_path": str(rubric)}
            )
        assert "MAX_JSON_DEPTH" in error_text(result)
