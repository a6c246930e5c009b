"""How fast hostile inputs are refused, against what the code did before the caps (same run).

Each row times the current code refusing (or reading) a small hostile input and, as the
alternative, what the earlier code did with it: the back-referencing fence regex, a full
gunzip, a YAML load that follows aliases (on a smaller bomb: the real one does not finish).
Run: `python bench/hostile.py` (best of 3).
"""

from __future__ import annotations

import gzip
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from papercoder_mcp.errors import PaperCoderError
from papercoder_mcp.limits import load_yaml
from papercoder_mcp.paper.latex import parse_latex_tarball
from papercoder_mcp.stages.answers import fenced_blocks

OLD_FENCE = re.compile(r"^(`{3,}|~{3,})[ \t]*([\w+.#-]*)[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)


def best(fn: Callable[[], object], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        try:
            fn()
        except (PaperCoderError, yaml.YAMLError):
            pass
        times.append(time.perf_counter() - start)
    return min(times)


def alias_bomb(levels: int) -> str:
    names = [chr(97 + i) for i in range(levels + 1)]
    lines = [f"{names[0]}: &{names[0]} [{', '.join(['x'] * 9)}]"]
    lines += [f"{n}: &{n} [{', '.join(['*' + p] * 9)}]" for p, n in zip(names, names[1:], strict=False)]
    return "\n".join(lines) + "\n"


def main() -> None:
    rows: list[tuple[str, float, float, str]] = []
    ticks = "```" * 33_000  # 99 KB on one line
    same = all(
        fenced_blocks(t) == [(m.group(2).lower(), m.group(3)) for m in OLD_FENCE.finditer(t)]
        for t in ["```python\nx = 1\n```\n", "prose\n~~~json\n{}\n~~~\n", "````md\n```py\na\n```\n````\n"]
    )
    rows.append(
        (
            "99 KB of backticks: fence scan",
            best(lambda: fenced_blocks(ticks)),
            best(lambda: list(OLD_FENCE.finditer(ticks))),
            f"same blocks on ordinary answers: {same}",
        )
    )
    bomb8 = alias_bomb(8)
    bomb5 = alias_bomb(5)
    rows.append(
        (
            f"YAML alias bomb ({len(bomb8)} B, 8 levels; old: 5 levels)",
            best(lambda: load_yaml(bomb8)),
            best(lambda: json.dumps(yaml.safe_load(bomb5))),
            "old: safe_load, then walking the result (the real 8-level bomb does not finish)",
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        gz = Path(tmp) / "2401.00001.tex.gz"
        head = gzip.compress(b"\\documentclass{article}\n\\begin{document}\n\\section{A}\n")
        gz.write_bytes(head + gzip.compress(b"\0" * (10 << 20), compresslevel=9) * 30)

        def gunzip_all() -> None:
            with gzip.open(gz, "rb") as fh:
                while fh.read(1 << 20):
                    pass

        rows.append(
            (
                f".tex.gz bomb ({gz.stat().st_size // 1024} KB -> 300 MB)",
                best(lambda: parse_latex_tarball(gz)),
                best(gunzip_all),
                "old: unpacked all of it (and kept it in memory)",
            )
        )
    print(f"Python {sys.version.split()[0]}; best of 3\n")
    print("| input | refused now | before | ratio | note |")
    print("|---|---:|---:|---:|---|")
    for name, now, before, note in rows:
        print(f"| {name} | {now * 1000:.1f} ms | {before * 1000:.1f} ms | {before / now:.0f}x | {note} |")


if __name__ == "__main__":
    main()
