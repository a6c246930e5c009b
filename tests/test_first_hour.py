"""A new user's first hour: the README's set-up lines work as written, and the CLI's errors are one true line.

The MCP lines run as subprocesses in a temporary folder laid out like a fresh clone (its `.venv/bin` holds
the installed console script), with a stand-in `claude` on PATH that records what it was asked to add;
the command it was given is then started as a real stdio MCP server. The install line itself is what
`.ci/run` executes on a fresh machine (checked in test_readme.py), so it is not re-run offline here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from typer.testing import CliRunner

from papercoder_mcp.cli import app
from papercoder_mcp.pipeline.edits import edit_artifact
from papercoder_mcp.store import Store

from fake_anthropic import FakeAnthropic, Fault
from fake_model import FakeModel, fake_model_responder
from mcp_helpers import PAPER_MD

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SCRIPT = Path(sys.executable).parent / "papercoder-mcp"
runner = CliRunner()


def bash_lines(pattern: str) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", README, re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if re.search(pattern, line)]


def json_blocks() -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(b) for b in re.findall(r"```json\n(.*?)```", README, re.DOTALL)]


def fresh_clone(tmp_path: Path) -> Path:
    """A folder shaped like a clone after the README's install line: .venv/bin/papercoder-mcp exists."""
    clone = tmp_path / "clone"
    (clone / ".venv" / "bin").mkdir(parents=True)
    (clone / ".venv" / "bin" / "papercoder-mcp").symlink_to(SCRIPT)
    return clone


def no_key_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "PAPERCODER_"))}
    env.update(HOME=str(tmp_path / "home"), PAPERCODER_DB=str(tmp_path / "store.db"))
    return env


async def handshake(command: str, args: list[str], env: dict[str, str]) -> set[str]:
    async with Client(StdioServerParameters(command=command, args=args, env=env)) as client:
        return {t.name for t in (await client.list_tools()).tools}


class TestReadmeMcpLines:
    @pytest.mark.anyio
    async def test_the_claude_code_line_registers_a_command_that_serves(self, tmp_path: Path) -> None:
        (line,) = bash_lines(r"^claude mcp add")
        clone = fresh_clone(tmp_path)
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        recorded = tmp_path / "claude-args.json"
        fake_claude = bin_dir / "claude"
        fake_claude.write_text(
            f"#!{sys.executable}\nimport json, sys\njson.dump(sys.argv[1:], open({str(recorded)!r}, 'w'))\n"
        )
        fake_claude.chmod(0o755)
        env = {**no_key_env(tmp_path), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
        # The line exactly as the README prints it, in the clone's folder, as a user pastes it.
        done = subprocess.run(["bash", "-c", line], cwd=clone, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        args = json.loads(recorded.read_text())
        assert args[:4] == ["mcp", "add", "papercoder", "--"]
        command, *rest = args[4:]
        assert Path(command).is_absolute() and os.access(command, os.X_OK), command
        assert "list_runs" in await handshake(command, rest, env)

    @pytest.mark.anyio
    async def test_the_desktop_config_has_no_key_by_default_and_serves(self, tmp_path: Path) -> None:
        default, keyed = json_blocks()
        server = default["mcpServers"]["papercoder"]
        assert "env" not in server  # a copied placeholder key would win over handoff and fail every stage
        assert "ANTHROPIC_API_KEY" in keyed["mcpServers"]["papercoder"]["env"]
        assert "sk-" not in json.dumps(keyed)
        clone = fresh_clone(tmp_path)
        command = server["command"].replace("/home/you/papercoder-mcp", str(clone))
        assert "list_runs" in await handshake(command, server["args"], no_key_env(tmp_path))

    def test_the_main_line_run_as_pasted_refuses_the_placeholder_key(self, tmp_path: Path) -> None:
        (line,) = bash_lines(r"papercoder-mcp full paper.pdf")
        install, run = line.rsplit(" && ", 1)
        assert (
            install == "python3 -m venv .venv && .venv/bin/pip install -e ."
        )  # what .ci/run does, with [test]
        clone = fresh_clone(tmp_path)
        (clone / "paper.pdf").write_bytes(
            b"%PDF-1.4\n"
        )  # stands for the user's paper; the key check is first
        done = subprocess.run(
            ["bash", "-c", run], cwd=clone, env=no_key_env(tmp_path), capture_output=True, text=True
        )
        assert done.returncode == 1
        assert "placeholder" in one_error_line(done.stderr)
        assert not (clone / "repo").exists()

    def test_the_first_command_says_what_to_put_for_the_paper(self) -> None:
        first_screen = README.split("## Use it from", 1)[0]
        assert "put your paper's path where it says" in first_screen
        assert "[No key](#no-key-let-claude-code-do-the-models-work)" in first_screen
        assert "### No key: let Claude Code do the model's work" in README


@pytest.fixture
def paper(tmp_path: Path) -> Path:
    p = tmp_path / "paper.md"
    p.write_text(PAPER_MD)
    return p


def one_error_line(output: str) -> str:
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    return errors[0]


class TestInputsBeforeTheKey:
    def test_a_missing_paper_is_named_not_the_key(self, tmp_path: Path) -> None:
        result = runner.invoke(app, ["full", str(tmp_path / "nope.pdf")], env={"ANTHROPIC_API_KEY": ""})
        assert result.exit_code == 1
        line = one_error_line(result.output)
        assert "nope.pdf: no such file" in line and "ANTHROPIC_API_KEY" not in result.output

    def test_an_unknown_run_is_named_not_the_key(self, tmp_path: Path) -> None:
        db = tmp_path / "s.db"
        result = runner.invoke(
            app, ["--db", str(db), "full", "--resume", "run-nope"], env={"ANTHROPIC_API_KEY": ""}
        )
        assert result.exit_code == 1
        assert "no run with id 'run-nope'" in one_error_line(result.output)
        assert "ANTHROPIC_API_KEY" not in result.output

    def test_resume_needs_no_out_and_remembers_the_folder(self, tmp_path: Path, paper: Path) -> None:
        db = tmp_path / "s.db"
        with Store(db) as store:
            run_id = store.create_run(title="t", settings={"export_dir": str(tmp_path / "earlier")}).id
        result = runner.invoke(
            app, ["--db", str(db), "full", "--resume", run_id], env={"ANTHROPIC_API_KEY": ""}
        )
        # It gets as far as the key: no "--out DIR is required".
        assert result.exit_code == 1
        assert "ANTHROPIC_API_KEY is not set" in one_error_line(result.output)
        assert "--out" not in result.output


class TestPlaceholderKey:
    def test_a_copied_placeholder_key_is_refused_with_a_hint(self, paper: Path, tmp_path: Path) -> None:
        for args in (["full", str(paper), "--out", str(tmp_path / "repo")], ["serve"]):
            result = runner.invoke(
                app, ["--db", str(tmp_path / "s.db"), *args], env={"ANTHROPIC_API_KEY": "sk-..."}
            )
            assert result.exit_code == 1
            line = one_error_line(result.output)
            assert "placeholder" in line and "handoff" in line, line


class TestAFailingRun:
    def test_the_error_is_shown_once_and_the_step_as_failed(self, tmp_path: Path, paper: Path) -> None:
        with FakeAnthropic(fake_model_responder()) as fake:
            fake.fail_next(Fault.unauthorized())
            result = runner.invoke(
                app,
                ["--db", str(tmp_path / "s.db"), "full", str(paper), "--out", str(tmp_path / "repo")],
                env={"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": fake.base_url, "COLUMNS": "200"},
            )
        assert result.exit_code == 1
        assert result.output.count("HTTP 401") == 1, result.output
        assert "make_plan: make_plan:" not in result.output
        assert "make_plan failed" in result.output
        assert "papercoder-mcp full --resume run-" in one_error_line(result.output)
        assert not (tmp_path / "repo").exists()

    def test_retries_are_shown_with_their_attempt_and_wait(self, tmp_path: Path, paper: Path) -> None:
        with FakeAnthropic(fake_model_responder()) as fake:
            fake.fail_next(Fault.rate_limit(retry_after=0.01), Fault.overloaded())
            result = runner.invoke(
                app,
                ["--db", str(tmp_path / "s.db"), "full", str(paper), "--out", str(tmp_path / "repo")],
                env={"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": fake.base_url, "COLUMNS": "200"},
            )
        assert result.exit_code == 0, result.output
        assert re.search(r"make_plan: HTTP 429; attempt 2 of \d+ in \d+s", result.output), result.output
        assert re.search(r"make_plan: HTTP 529; attempt 3 of \d+ in \d+s", result.output), result.output


class TestReports:
    def test_cost_of_a_handoff_run_says_nothing_was_billed(self, tmp_path: Path, paper: Path) -> None:
        db = tmp_path / "s.db"
        saved = runner.invoke(app, ["--db", str(db), "parse", str(paper), "--save"])
        run_id = re.search(r"saved as run (\S+)", saved.output).group(1)  # type: ignore[union-attr]
        plan, _ = FakeModel().answer("make_plan", "")  # a valid plan, as an agent would write it
        with Store(db) as store:
            edit_artifact(store, run_id, "plan", plan)
        result = runner.invoke(app, ["--db", str(db), "cost", run_id])
        assert result.exit_code == 0, result.output
        assert "no billed model call here: $0" in result.output
        assert "1 step(s) were written by the calling agent (handoff) or by hand" in result.output

    def test_dry_run_prices_refine_and_bounds_repairs(self, paper: Path) -> None:
        result = runner.invoke(app, ["full", str(paper), "--dry-run", "--refine"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert "critique make_plan" in result.output and "improve analyze_file" in result.output
        assert re.search(r"Not in the total: verification repairs.*up to 3 round", result.output)
        plain = runner.invoke(app, ["full", str(paper), "--dry-run", "--no-verify"], env={"COLUMNS": "200"})
        assert "critique" not in plain.output and "repairs" not in plain.output

    def test_help_has_no_type_noise_and_fits_80_columns(self) -> None:
        for args in (["--help"], ["full", "--help"], ["verify", "--help"]):
            result = runner.invoke(app, args, env={"COLUMNS": "80"})
            assert result.exit_code == 0
            assert "<bool>" not in result.output
            assert max(len(line) for line in result.output.splitlines()) <= 80
        assert "--timeout" in runner.invoke(app, ["full", "--help"]).output

    def test_show_lists_steps_and_next_call_within_80_columns(self, tmp_path: Path, paper: Path) -> None:
        db = tmp_path / "s.db"
        saved = runner.invoke(app, ["--db", str(db), "parse", str(paper), "--save"])
        run_id = re.search(r"saved as run (\S+)", saved.output).group(1)  # type: ignore[union-attr]
        result = runner.invoke(app, ["--db", str(db), "show", run_id], env={"COLUMNS": "80"})
        assert result.exit_code == 0, result.output
        assert re.search(r"design_architecture\s+missing", result.output)  # the whole stage name
        assert "next: make_plan()" in result.output
        assert max(len(line) for line in result.output.splitlines()) <= 80


def test_commands_other_than_serve_do_not_load_the_mcp_stack() -> None:
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from papercoder_mcp.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m == 'mcp' or m.startswith(('mcp.', 'anthropic'))))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip().splitlines()[-1] == "[]"
