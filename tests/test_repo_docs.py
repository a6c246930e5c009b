"""The exported README and reproduce.sh, derived from the entry point's code and config.yaml."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from test_entry_point import ARGPARSE_MAIN

from papercoder_mcp.configfile import config_entries
from papercoder_mcp.models import Architecture, CheckedItem, CoverageReport
from papercoder_mcp.pipeline.repo_docs import RunCommand, RunPlan, plan_commands, reproduce_sh

from fake_model import FakeModel


def architecture(smoke: str = "python main.py smoke") -> Architecture:
    data = json.loads(FakeModel().answer("design_architecture", "")[0][8:-4])
    return Architecture.model_validate({**data, "smoke_command": smoke})


def item(name: str, command: str) -> CheckedItem:
    return CheckedItem(
        name=name, kind="table", file="main.py", symbol="main", command=command, status="implemented"
    )


class TestCommandsFromTheEntryPoint:
    def test_without_a_coverage_map_every_runnable_subcommand_in_code_order(self) -> None:
        plan = plan_commands(architecture(), {"main.py": ARGPARSE_MAIN}, None)
        assert plan.smoke is not None and plan.smoke.command == "python main.py smoke"
        assert [r.command for r in plan.experiments] == ["python main.py train"]
        assert plan.left_out == [
            "`python main.py evaluate`: main.py evaluate requires --checkpoint",
            "`python main.py plot`: plot needs TABLE",
        ]

    def test_mapped_experiments_in_the_order_of_the_subcommands_each_checked_and_quoted(self) -> None:
        # main.py defines train, evaluate, plot: what evaluate writes, plot reads, whatever the
        # order the paper's tables come in.
        coverage = CoverageReport(
            items=[
                item("Table 2", "python main.py plot 2"),
                item("Table 1", "python main.py evaluate --checkpoint 'runs/best model.pt'"),
                item("Table 3", "python main.py evaluate"),
                item("Table 1 again", "python main.py plot 2"),
            ]
        )
        plan = plan_commands(architecture(), {"main.py": ARGPARSE_MAIN}, coverage)
        assert [r.command for r in plan.experiments] == [
            "python main.py evaluate --checkpoint 'runs/best model.pt'",
            "python main.py plot 2",
        ]
        assert plan.left_out == ["Table 3 `python main.py evaluate`: main.py evaluate requires --checkpoint"]
        script = reproduce_sh(plan)
        runs = [line for line in script.splitlines() if line.startswith("python ")]
        assert runs == [
            "python main.py smoke",
            "python main.py evaluate --checkpoint 'runs/best model.pt'",
            "python main.py plot 2",
        ]

    def test_a_smoke_command_the_code_lacks_is_not_run(self) -> None:
        plan = plan_commands(architecture("python main.py --smoke"), {"main.py": ARGPARSE_MAIN}, None)
        assert plan.smoke is None
        assert (
            plan.left_out[0]
            == "the smoke mode `python main.py --smoke`: unknown option --smoke for the program"
        )
        assert "\npython main.py --smoke\n" not in reproduce_sh(plan)

    def test_a_flag_smoke_mode_on_a_program_without_subcommands(self) -> None:
        main = (
            "import argparse\np = argparse.ArgumentParser()\np.add_argument('--smoke', action='store_true')\n"
        )
        plan = plan_commands(architecture("python main.py --smoke"), {"main.py": main}, None)
        assert plan.smoke is not None and plan.smoke.command == "python main.py --smoke"
        assert [r.command for r in plan.experiments] == ["python main.py"]  # the bare run parses here

    def test_hostile_text_in_a_label_stays_a_comment(self) -> None:
        coverage = CoverageReport(items=[item("Table 1\nrm -rf ~", "python main.py train")])
        script = reproduce_sh(plan_commands(architecture(), {"main.py": ARGPARSE_MAIN}, coverage))
        assert "# Table 1 rm -rf ~\npython main.py train\n" in script
        assert "\nrm -rf" not in script


class TestReproduceScriptRuns:
    """What bash does with reproduce.sh: the script's own logic, with stand-in commands of this test."""

    @pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
    def test_a_failing_experiment_does_not_stop_the_others_and_the_script_says_which(
        self, tmp_path: Path
    ) -> None:
        # Seen: under `set -e`, an experiment that needs an API key the user has not set stopped
        # every experiment after it.
        plan = RunPlan(
            smoke=RunCommand(command="true smoke", label="smoke"),
            experiments=[
                RunCommand(command="false needs-a-key", label="Table 1"),
                RunCommand(command="touch table2.done", label="Table 2"),
            ],
        )
        script = reproduce_sh(plan)
        # The set-up lines make a venv and install requirements: replaced, so only the logic runs.
        body = script.split("pip install -r requirements.txt\n", 1)[1]
        (tmp_path / "run.sh").write_text("set -euo pipefail\n" + body)
        done = subprocess.run(["bash", "run.sh"], cwd=tmp_path, capture_output=True, text=True, timeout=30)
        assert done.returncode == 1
        assert (tmp_path / "table2.done").exists()
        assert "reproduce.sh: failed: line" in done.stderr and "false needs-a-key" in done.stderr
        assert "table2" not in done.stderr

    @pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
    def test_a_failing_smoke_mode_stops_the_script_and_a_clean_run_exits_0(self, tmp_path: Path) -> None:
        for smoke, code, ran in (("false smoke", 1, False), ("true smoke", 0, True)):
            plan = RunPlan(
                smoke=RunCommand(command=smoke, label="smoke"),
                experiments=[RunCommand(command="touch t.done", label="Table 1")],
            )
            body = reproduce_sh(plan).split("pip install -r requirements.txt\n", 1)[1]
            (tmp_path / "run.sh").write_text("set -euo pipefail\n" + body)
            done = subprocess.run(["bash", "run.sh"], cwd=tmp_path, capture_output=True, timeout=30)
            assert done.returncode == code and (tmp_path / "t.done").exists() is ran
            (tmp_path / "t.done").unlink(missing_ok=True)


class TestConfigComments:
    def test_values_comments_and_what_the_user_supplies(self) -> None:
        text = (
            "train:\n"
            "  lr: 1.0e-4  # Section 5\n"
            "  # not in the paper: chosen default\n"
            "  batch_size: 32\n"
            "  sizes: [1, 2]  # Table 1\n"
            "  name: 'a # b'  # the hash in quotes is not a comment\n"
            "data:\n"
            "  csv: null  # path to the CSV: download it from the dataset's page\n"
        )
        entries = {e.key: e for e in config_entries(text)}
        assert entries["train.lr"].value == 1e-4 and entries["train.lr"].comment == "Section 5"
        assert entries["train.batch_size"].is_default
        assert entries["train.sizes"].value == [1, 2] and entries["train.sizes"].comment == "Table 1"
        assert entries["train.name"].value == "a # b"
        assert entries["train.name"].comment == "the hash in quotes is not a comment"
        assert entries["data.csv"].must_provide and not entries["train.lr"].must_provide

    def test_a_block_list_takes_the_comment_on_its_key_line(self) -> None:
        # Seen: `gammas:  # not in the paper: chosen default` over `- 1.0` lines left out of the
        # README's assumptions.
        text = "cot:\n  gammas:  # not in the paper: chosen default (grid)\n    - 1.0\n    - 1.5\n  k: 3\n"
        entries = {e.key: e for e in config_entries(text)}
        assert entries["cot.gammas"].value == [1.0, 1.5] and entries["cot.gammas"].is_default
        assert entries["cot.k"].comment == ""
