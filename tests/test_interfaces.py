"""Interface summaries of generated files, computed from their code: the contracts between files."""

from __future__ import annotations

from papercoder_mcp.interfaces import SUMMARY_LINES, file_summary, repository_summary

TRAINER = '''
"""Training loop."""
import json
import os

import torch


class Trainer:
    def __init__(self, model: torch.nn.Module, config: dict) -> None:
        self.config = config
        train_cfg = config["train"]
        self.lr = train_cfg["learning_rate"]
        self.epochs = config.get("train", {}).get("epochs", 1)

    def fit(self, loader) -> float:
        """Train for the configured epochs; return the last loss."""
        torch.save(self.model.state_dict(), self.config["paths"]["checkpoint"])
        with open(os.path.join("outputs", "metrics.json"), "w") as fh:
            json.dump({"loss": 0.0}, fh)
        return 0.0


def load_rows(path: str = "data/train.csv") -> list[str]:
    with open("data/train.csv") as fh:
        return fh.readlines()
'''

MAIN = """
import argparse

def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    evaluate = commands.add_parser("evaluate")
    evaluate.add_argument("--checkpoint", required=True)
    evaluate.add_argument("--split", default="test")
    commands.add_parser("smoke")
"""


class TestFileSummary:
    def test_config_keys_files_and_signatures_come_from_the_code(self) -> None:
        summary = file_summary("trainer.py", TRAINER)
        lines = summary.splitlines()
        assert lines[0] == "### `trainer.py`"
        assert "config keys read: train.learning_rate, train.epochs, paths.checkpoint" in lines
        assert "reads files: 'data/train.csv'" in lines  # open() without a mode reads ...
        assert "writes files: config[paths.checkpoint], 'outputs' / 'metrics.json'" in lines  # ... "w" writes
        assert "    def fit(self, loader) -> float:" in lines
        assert '        """Train for the configured epochs; return the last loss."""' in lines
        assert "def load_rows(path: str='data/train.csv') -> list[str]: ..." in lines

    def test_a_path_written_with_content_is_the_path_not_the_content(self) -> None:
        # Seen: a test's `path.write_text("id,choice\\np1,A\\n")` summarised as writing a file
        # named by its CSV text.
        import ast

        from papercoder_mcp.interfaces import files_read_and_written

        code = (
            "from pathlib import Path\n\n"
            "def save(out: Path) -> None:\n"
            "    Path('runs/votes.csv').write_text('id,choice\\np1,A\\n')\n"
            "    Path('runs/raw.bin').write_bytes(b'x')\n"
        )
        reads, writes = files_read_and_written(ast.parse(code))
        assert writes == ["'runs/votes.csv'", "'runs/raw.bin'"] and reads == []

    def test_the_command_line_is_in_the_summary(self) -> None:
        lines = file_summary("main.py", MAIN).splitlines()
        assert (
            "command line (argparse): python main.py evaluate --checkpoint CHECKPOINT; python main.py smoke"
            in lines
        )
        assert "optional flags: --split SPLIT" in lines

    def test_a_summary_is_bounded(self) -> None:
        many = "\n".join(f"def f{i}(x: int) -> int:\n    return x" for i in range(200))
        lines = file_summary("big.py", many).splitlines()
        assert len(lines) <= SUMMARY_LINES + 2 and "more lines of interface" in lines[-2]

    def test_private_helpers_are_no_contract(self) -> None:
        # A repair that adds a private helper must not change what later files were generated from.
        code = "def frechet(a: float) -> float:\n    return a\n"
        helped = (
            "def _sqrtm(a):\n    return a\n\n\n"
            + code
            + "\n\nclass K:\n    def __init__(self) -> None: ...\n    def _x(self): ...\n"
        )
        assert file_summary("m.py", helped) == file_summary(
            "m.py", code + "\n\nclass K:\n    def __init__(self) -> None: ...\n"
        )
        assert "__init__" in file_summary("m.py", helped) and "_sqrtm" not in file_summary("m.py", helped)

    def test_code_that_does_not_parse_says_so(self) -> None:
        assert "does not parse" in file_summary("bad.py", "def f(:\n")


class TestRepositorySummary:
    def test_files_past_the_limit_are_named_not_silently_dropped(self) -> None:
        files = {"trainer.py": TRAINER, "main.py": MAIN}
        full = repository_summary(files, ["trainer.py", "main.py"])
        assert "### `trainer.py`" in full and "### `main.py`" in full
        cut = repository_summary(
            files, ["trainer.py", "main.py"], limit=len(file_summary("trainer.py", TRAINER)) + 5
        )
        assert "### `main.py`" not in cut
        assert cut.endswith("(summaries of 1 more file(s) left out for length: main.py)")
