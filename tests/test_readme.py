"""The README stays true: its commands, config snippet and tables match the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from mcp import Client
from typer.testing import CliRunner

from papercoder_mcp.cli import app
from papercoder_mcp.server.build import build_server
from papercoder_mcp.store import Store

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
TEST_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest"


def code_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, re.DOTALL)


def table_names(heading: str) -> set[str]:
    section = README.split(heading, 1)[1].split("\n#", 1)[0]
    return {m.group(1) for m in re.finditer(r"^\| `([a-z_]+)\(", section, re.MULTILINE)}


def test_the_test_command_is_the_one_ci_runs() -> None:
    assert TEST_COMMAND in code_blocks("bash")[1]
    assert TEST_COMMAND.replace("pip install", "pip install -q") in (ROOT / ".ci" / "run").read_text()


def test_the_claude_desktop_snippet_is_valid_json_running_serve() -> None:
    for snippet in code_blocks("json"):  # without a key, then with one
        config = json.loads(snippet)["mcpServers"]["papercoder"]
        assert config["args"] == ["serve"]


def test_every_cli_command_in_the_readme_exists() -> None:
    commands = set(re.findall(r"^\| `papercoder-mcp ([a-z]+)", README, re.MULTILINE))
    assert commands >= {"full", "parse", "runs", "show", "cost", "export", "serve"}
    runner = CliRunner()
    for command in commands:
        assert runner.invoke(app, [command, "--help"]).exit_code == 0, command


@pytest.mark.anyio
async def test_tool_and_prompt_tables_match_the_server(tmp_path: Path) -> None:
    async with Client(build_server(Store(tmp_path / "r.db"))) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        prompts = {p.name for p in (await client.list_prompts()).prompts}
    documented = table_names("### Tools") | {"list_runs"}  # listed beside get_run in one row
    assert documented == tools
    assert table_names("### Prompts") == prompts
