"""The command line a generated entry point defines, read from its code (argparse, click, typer)."""

from __future__ import annotations

import pytest

from papercoder_mcp.entry_point import read_cli, split_command

ARGPARSE_MAIN = """
import argparse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="reproduce the paper")
    parser.add_argument("--config", default="config.yaml")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train")
    train.add_argument("--epochs", type=int)
    evaluate = commands.add_parser("evaluate")
    evaluate.add_argument("--checkpoint", required=True)
    group = evaluate.add_mutually_exclusive_group()
    group.add_argument("--fast", action="store_true")
    commands.add_parser("plot").add_argument("table", choices=["1", "2"])
    commands.add_parser("smoke")
    return parser


if __name__ == "__main__":
    build_parser().parse_args()
"""


class TestArgparse:
    def test_subcommands_and_their_arguments_are_read(self) -> None:
        cli = read_cli("main.py", ARGPARSE_MAIN)
        assert cli.framework == "argparse" and cli.subcommand_required
        assert [c.name for c in cli.subcommands] == ["train", "evaluate", "plot", "smoke"]
        assert cli.usage("main.py") == [
            "python main.py train",
            "python main.py evaluate --checkpoint CHECKPOINT",
            "python main.py plot TABLE",
            "python main.py smoke",
        ]

    @pytest.mark.parametrize(
        ("argv", "problem"),
        [
            ([], "main.py needs a subcommand (train, evaluate, plot, smoke)"),
            (["smoke"], ""),
            (["--config", "other.yaml", "train", "--epochs", "2"], ""),
            (["evaluate"], "main.py evaluate requires --checkpoint"),
            (["evaluate", "--checkpoint=ckpt.pt", "--fast"], ""),
            (["plot"], "plot needs TABLE"),
            (["plot", "2"], ""),
            (["test"], "main.py has no subcommand 'test' (it has train, evaluate, plot, smoke)"),
            (["train", "--lr", "1"], "unknown option --lr for train"),
            (["train", "extra"], "main.py: unexpected arguments extra"),
        ],
    )
    def test_a_command_line_is_checked_like_argparse_would(self, argv: list[str], problem: str) -> None:
        assert read_cli("main.py", ARGPARSE_MAIN).problem(argv) == problem

    def test_a_bare_parser_with_a_required_option(self) -> None:
        cli = read_cli(
            "run.py",
            "import argparse\np = argparse.ArgumentParser()\np.add_argument('--data', required=True)\n"
            "p.add_argument('--smoke', action='store_true')\n",
        )
        assert cli.problem([]) == "run.py requires --data"
        assert cli.problem(["--data", "x.csv", "--smoke"]) == ""


CHOICES = """
import argparse

COMMANDS = ["train", "evaluate", "smoke"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("run_name", nargs="?")
    parser.add_argument("--task", default=None)
    parser.add_argument("--fast", action="store_true")
    parser.parse_args()
"""


MANY = """
import argparse

def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    t2 = sub.add_parser("table2")
    t2.add_argument("--tasks", nargs="+", default=["ende"])
    t2.add_argument("--sizes", nargs="*")
    t2.add_argument("--pair", nargs=2)
    t2.add_argument("--seed", type=int, default=0)
    ev = sub.add_parser("evaluate")
    ev.add_argument("checkpoints", nargs="+")
    ev.add_argument("--beam", type=int)
    args = parser.parse_args()

if __name__ == "__main__":
    main()
"""


class TestOptionsTakingSeveralValues:
    """nargs='+', '*' and N take several words, as argparse reads them (a flag ends them)."""

    def test_they_parse_as_argparse_would(self) -> None:
        cli = read_cli("main.py", MANY)
        for argv in (
            ["table2", "--tasks", "ende", "enfr"],
            ["table2", "--tasks", "ende", "enfr", "--seed", "1"],
            ["table2", "--sizes", "--seed", "1"],
            ["table2", "--pair", "a", "b"],
            ["evaluate", "a.pt", "b.pt", "--beam", "4"],
        ):
            assert cli.problem(argv) == "", argv
        assert "unexpected arguments c" in cli.problem(["table2", "--pair", "a", "b", "c"])
        assert "needs CHECKPOINTS" in cli.problem(["evaluate"])


class TestAPositionalWithChoices:
    """`add_argument("command", choices=[...])` is as much a set of subcommands as add_subparsers."""

    def test_its_choices_are_the_commands_by_literal_or_by_name(self) -> None:
        for source in (
            CHOICES,
            CHOICES.replace("choices=COMMANDS", 'choices=("train", "evaluate", "smoke")'),
        ):
            cli = read_cli("main.py", source)
            assert [c.name for c in cli.subcommands] == ["train", "evaluate", "smoke"]
            assert cli.usage("main.py")[0] == "python main.py train RUN_NAME"

    @pytest.mark.parametrize(
        ("argv", "problem"),
        [
            (["smoke"], ""),
            (["train", "--task", "ffhq", "--fast"], ""),
            (["--task", "ffhq", "evaluate", "run1"], ""),  # options before the command word too
            (["plot"], "main.py has no subcommand 'plot' (it has train, evaluate, smoke)"),
            ([], "main.py needs a subcommand (train, evaluate, smoke)"),
            (["train", "--epochs", "3"], "unknown option --epochs for train"),
        ],
    )
    def test_commands_parse_as_argparse_would_parse_them(self, argv: list[str], problem: str) -> None:
        assert read_cli("main.py", CHOICES).problem(argv) == problem

    @pytest.mark.parametrize(
        "choices",
        [
            'list(COMMANDS) + ["smoke"]',  # seen: a dict of command -> method, smoke added
            '[*COMMANDS, "smoke"]',
            'list(COMMANDS.keys()) + ["smoke"]',
            'tuple(COMMANDS) + ("smoke",)',
        ],
    )
    def test_choices_built_from_a_dict_of_commands(self, choices: str) -> None:
        source = CHOICES.replace(
            'COMMANDS = ["train", "evaluate", "smoke"]',
            'COMMANDS = {"train": "run_train", "evaluate": "run_evaluate"}',
        ).replace("choices=COMMANDS", f"choices={choices}")
        cli = read_cli("main.py", source)
        assert [c.name for c in cli.subcommands] == ["train", "evaluate", "smoke"]
        assert cli.problem(["plot"]) == "main.py has no subcommand 'plot' (it has train, evaluate, smoke)"

    def test_choices_that_are_not_all_strings_are_no_commands(self) -> None:
        for choices in ("[1, 2]", "list(COMMANDS) + make_more()", "sorted(load_commands())"):
            source = CHOICES.replace("choices=COMMANDS", f"choices={choices}")
            assert read_cli("main.py", source).subcommands == [], choices


LOOPED = """
import argparse

TABLES = ["table1", "table2"]


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("adapt", "sample"):
        s = sub.add_parser(name)
        s.add_argument("--task")
    for table in TABLES:
        sub.add_parser(table)
    for name, text in [("toy", "Figure 2"), ("smoke", "tiny run")]:
        sub.add_parser(name, help=text)
    parser.parse_args()
"""


class TestSubcommandsMadeInALoop:
    def test_each_value_of_the_loop_is_a_command_with_the_loop_body_options(self) -> None:
        cli = read_cli("main.py", LOOPED)
        assert [c.name for c in cli.subcommands] == ["adapt", "sample", "table1", "table2", "toy", "smoke"]
        assert cli.problem(["sample", "--task", "x"]) == ""
        assert cli.problem(["table2", "--task", "x"]) == "unknown option --task for table2"


class TestClickAndTyper:
    def test_a_click_group(self) -> None:
        source = """
import click

@click.group()
def cli() -> None: ...

@cli.command()
@click.option("--epochs", type=int, required=True)
def train_model(epochs: int) -> None: ...

@cli.command("smoke")
@click.argument("out", required=False)
def smoke(out: str) -> None: ...
"""
        cli = read_cli("main.py", source)
        assert [c.name for c in cli.subcommands] == ["train-model", "smoke"]
        assert cli.problem(["train-model"]) == "main.py train-model requires --epochs"
        assert cli.problem(["smoke"]) == "" and cli.problem([]) != ""

    def test_a_typer_app(self) -> None:
        source = """
import typer

app = typer.Typer()

@app.command()
def train(config: str, epochs: int = 3, fast: bool = False) -> None: ...

@app.command()
def smoke(steps: int = typer.Option(..., "--steps")) -> None: ...
"""
        cli = read_cli("main.py", source)
        assert cli.problem(["train", "config.yaml", "--epochs", "2", "--fast"]) == ""
        assert cli.problem(["train"]) == "train needs CONFIG"
        assert cli.problem(["smoke"]) == "main.py smoke requires --steps"

    def test_a_lone_typer_command_runs_without_its_name(self) -> None:
        source = (
            "import typer\napp = typer.Typer()\n\n@app.command()\ndef main(steps: int = 2) -> None: ...\n"
        )
        cli = read_cli("main.py", source)
        assert cli.subcommands == [] and cli.problem(["--steps", "1"]) == ""


class TestUnknownInterfaces:
    def test_hand_parsed_argv_is_judged_by_the_words_the_code_mentions(self) -> None:
        cli = read_cli("main.py", "import sys\nif sys.argv[1:] == ['smoke']:\n    print('ok')\n")
        assert cli.framework == "unknown"
        assert cli.problem(["smoke"]) == "" and cli.problem(["train"]) == "main.py does not mention train"

    def test_commands_that_run_something_else_are_not_the_entry_point(self) -> None:
        assert split_command("python main.py smoke --steps 2", "main.py") == ["smoke", "--steps", "2"]
        assert split_command("python3 -m src.main smoke", "src/main.py") == ["smoke"]
        assert split_command("bash run.sh", "main.py") is None
        assert split_command("python 'unclosed", "main.py") is None
