"""Size of a generated repository, the way the output-quality table reports it.

    python bench/repo_stats.py /path/to/repo [/path/to/other_repo ...]

Files (all, and Python), non-blank lines of Python, and test functions (`def test_*` found with `ast`
in `tests/`, methods of test classes included). Nothing in the repositories is imported or run.
"""

from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path

from pydantic import BaseModel

SKIPPED_DIRS = {".git", "__pycache__", ".pytest_cache", ".venv", "venv", "smoke", "outputs", "runs"}


class RepoStats(BaseModel):
    repo: str
    files: int
    python_files: int
    python_lines: int
    test_functions: int


def repo_files(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part in SKIPPED_DIRS for part in p.relative_to(root).parts[:-1])
    )


def test_functions(source: str) -> int:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return 0
    return sum(
        1
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    )


def stats(root: Path) -> RepoStats:
    files = repo_files(root)
    python = [p for p in files if p.suffix == ".py"]
    texts = {p: p.read_text(encoding="utf-8", errors="replace") for p in python}
    return RepoStats(
        repo=str(root),
        files=len(files),
        python_files=len(python),
        python_lines=sum(sum(1 for line in t.splitlines() if line.strip()) for t in texts.values()),
        test_functions=sum(
            test_functions(t) for p, t in texts.items() if "tests" in p.relative_to(root).parts
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repos", type=Path, nargs="+")
    for repo in parser.parse_args().repos:
        print(json.dumps(stats(repo).model_dump()))


if __name__ == "__main__":
    main()
