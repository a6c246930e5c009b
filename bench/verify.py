"""Benchmark of static verification on the planted-defect corpus (tests/verify_corpus.py).

Prints, per defect kind, how many planted defects were found at their exact file
and line; the findings on clean repositories (false positives); and the time per
1,000 lines. `--write` puts the table in bench/README.md under "## Verification".
"""

from __future__ import annotations

import argparse
import platform
import re
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from papercoder_mcp.verify import verify_files  # noqa: E402

from verify_corpus import PLANTERS, Case, all_cases  # noqa: E402


def _run(case: Case) -> tuple[list[tuple[str, str, int | None]], int]:
    result = verify_files(
        case.files,
        config_yaml=case.config_yaml,
        requirements=case.requirements,
        entry_point=case.entry_point,
        must_work=case.must_work,
    )
    return [(f.kind, f.file, f.line) for f in result.findings], result.lines_checked


def measure(repeats: int) -> str:
    cases = all_cases()
    found: dict[str, list[int]] = {k: [0, 0] for k in PLANTERS}
    extra: dict[str, int] = {k: 0 for k in PLANTERS}
    clean_fp = clean_n = 0
    lines = 0
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for case in cases:
            _run(case)
        best = min(best, time.perf_counter() - start)
    for case in cases:
        got, n = _run(case)
        lines += n
        if case.kind == "clean":
            clean_n += 1
            clean_fp += len(got)
            continue
        found[case.kind][1] += 1
        found[case.kind][0] += all(e in got for e in case.expected)
        extra[case.kind] += len([g for g in got if g not in case.expected])
    per_kloc = best / lines * 1000
    rows = [
        f"Measured {date.today().isoformat()} on {platform.machine()}, Python {platform.python_version()}. "
        f"`python bench/verify.py --write` ({len(cases) - clean_n} planted-defect repositories, "
        f"{clean_n} clean; best of {repeats}).",
        "",
        "| defect kind | detected (exact file and line) | other findings in those repos |",
        "|---|---:|---:|",
    ]
    rows += [f"| {k} | {f}/{n} | {extra[k]} |" for k, (f, n) in found.items()]
    total_found = sum(f for f, _ in found.values())
    total = sum(n for _, n in found.values())
    rows += [
        f"| **all** | **{total_found}/{total}** | {sum(extra.values())} |",
        "",
        f"- False positives on clean repositories: {clean_fp} findings in {clean_n} repositories (target 0: "
        f"{'met' if clean_fp == 0 else 'NOT met'}).",
        f"- Time: {per_kloc * 1000:.1f} ms per 1,000 lines ({lines:,} lines in {len(cases)} repositories, "
        f"{best:.3f} s in all; target < 1 s: {'met' if per_kloc < 1 else 'NOT met'}).",
        "- The corpus is one small ML repository (utils, data, model, train, evaluate, main; about 190 lines) in",
        "  two layouts (flat, and a `src/` package with relative imports), with one defect planted per repository,",
        "  three variants per kind. 'Other findings' counts anything reported besides the planted defect.",
        "- A corpus we wrote ourselves measures that each check works, not how often real model output trips",
        "  it; what each check deliberately skips is in the docstrings under papercoder_mcp/verify/.",
    ]
    return "\n".join(rows)


def write(section: str) -> None:
    readme = ROOT / "bench" / "README.md"
    text = readme.read_text(encoding="utf-8")
    block = f"## Verification\n\n{section}\n"
    pattern = re.compile(r"## Verification\n.*?(?=\n## |\Z)", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block.rstrip("\n") + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    readme.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="update the table in bench/README.md")
    args = parser.parse_args()
    section = measure(args.repeats)
    print(section)
    if args.write:
        write(section)


if __name__ == "__main__":
    main()
