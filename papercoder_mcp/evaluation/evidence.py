"""Cited evidence is checked against the files: a grade that cites `nonexistent.py:99999` is not evidence.

Graders and judges cite code as `path:line` or `path:start-end`. Every such citation must name a
file of the repository under evaluation (or of the reference, for a reference-based judge) and lines
that the file has; otherwise the answer is invalid and re-asked (or, handed off, refused), like any
answer that does not validate. A justification that cites nothing ("no code does this") is allowed,
and so is a reference to something that is not a file of the repository (`torch.nn`, the paper).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath

from papercoder_mcp.evaluation.repo_context import RepoFile

# A path with an extension that starts with a letter (so "1.5:2" is not a citation), then :line or
# :start-end; optional backticks around it. URLs ("http://host:80") are skipped by the look-behind.
CITATION = re.compile(
    r"(?<![\w/:.-])`?((?:[\w.-]+/)*[\w-][\w.-]*\.[A-Za-z][\w]*):(\d+)(?:\s*[-–]\s*(\d+))?`?"
)


def line_counts(files: Iterable[RepoFile]) -> dict[str, int]:
    return {f.path: max(1, len(f.text.splitlines())) for f in files}


def bad_citations(text: str, lines: Mapping[str, int]) -> list[str]:
    """Every citation in `text` that names a missing file or a line the file does not have."""
    problems: list[str] = []
    # Only what reads as a citation of this repository is checked: a known file, a path with folders,
    # or a name with one of its files' extensions ("torch.nn:1" or "paper.pdf:3" are not about its code).
    extensions = {PurePosixPath(p).suffix for p in lines}
    for match in CITATION.finditer(text):
        path, start, end = match.group(1).removeprefix("./"), int(match.group(2)), match.group(3)
        if path not in lines and "/" not in path and PurePosixPath(path).suffix not in extensions:
            continue
        last = int(end) if end else start
        cited = f"{path}:{start}" + (f"-{end}" if end else "")
        if path not in lines:
            problems.append(f"{cited} cites a file the repository does not have")
        elif start < 1 or last < start or last > lines[path]:
            problems.append(f"{cited} cites lines {path} does not have (it has {lines[path]})")
    return problems
