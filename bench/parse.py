"""Benchmark the PDF parser against pymupdf4llm and bare get_text() on ../shared/papers.

    .venv/bin/python bench/parse.py [--write] [--repeat N]

Prints seconds per page and heading precision/recall/F1 (strict, soft, soft+level, see shared
PARSING.md) per paper and parser; --write puts the table into the '## Parsing' section of
bench/README.md. pymupdf4llm must be a 0.x release (2.x is an empty shim for pymupdf 2.x):
`pip install -e '.[bench]'` installs one.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import re
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pymupdf

from papercoder_mcp.paper.pdf import ParserConfig, parse_pdf
from papercoder_mcp.paper.pdf_metrics import (
    Heading,
    Scores,
    markdown_headings,
    normalise,
    paper_headings,
    score,
)

ROOT = Path(__file__).resolve().parents[1]
PAPERS = ROOT.parent / "shared" / "papers"
README = ROOT / "bench" / "README.md"
SECTION = "## Parsing"
MODES = ("strict", "soft", "soft+level")
NOTES = """\
- Headings are scored against each paper's `headings.md` as shared/PARSING.md describes: normalised
  titles matched greedily in order; strict = equal, soft = SequenceMatcher ratio >= 0.9, soft+level =
  soft with the same level; order = longest-increasing-subsequence share of the matched headings. Ours
  counts title, Abstract, the section tree and References (rendered last, hence order < 1).
- `page.get_text()` has no notion of headings: its figures (in brackets) are an oracle that counts any
  text line equal to a reference heading, at level 1. They show what plain text loses (levels, and
  false hits like running text 'Attention'), not a parser.
- pymupdf4llm is {P4LLM} (the 0.x line that runs on pymupdf 1.x; 2.0 on PyPI is an empty shim for
  pymupdf 2.x), called with defaults. On this paper it marks only the title as a heading.
- Timings are wall clock on a shared machine and move by +-30 % between runs; the ratio to
  pymupdf4llm (3-5x over our runs) holds. Most of our time is `get_text("dict")` and `find_tables` on
  pages with a 'Table N' caption."""


def _p4llm_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pymupdf4llm")
    except PackageNotFoundError:
        return "(not installed)"


def ours(path: Path) -> list[Heading]:
    return paper_headings(parse_pdf(path))


def ours_no_toc(path: Path) -> list[Heading]:
    return paper_headings(parse_pdf(path, ParserConfig(use_toc=False)))


def p4llm(path: Path) -> list[Heading]:
    import pymupdf4llm  # type: ignore[import-not-found]

    with contextlib.redirect_stdout(io.StringIO()):  # it prints a hint about pymupdf_layout
        md = pymupdf4llm.to_markdown(str(path), show_progress=False)
    return markdown_headings(md)


def get_text_factory(reference: list[Heading]) -> Callable[[Path], list[Heading]]:
    """Bare get_text() has no headings; to be generous we count a line as one only when it equals a
    reference heading after normalisation, at level 1 (it knows no levels)."""
    wanted = {normalise(t) for _, t in reference}

    def run(path: Path) -> list[Heading]:
        with pymupdf.open(path) as doc:
            text = "".join(page.get_text() for page in doc)
        found: list[Heading] = []
        for line in text.splitlines():
            n = normalise(line)
            if n and n in wanted:
                found.append((1, line.strip()))
        return found

    return run


def _have_p4llm() -> bool:
    try:
        import pymupdf4llm  # type: ignore[import-not-found]
    except ImportError:
        return False
    return hasattr(pymupdf4llm, "to_markdown")


def bench(repeat: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for folder in sorted(p.parent for p in PAPERS.glob("*/paper.pdf")):
        pdf = folder / "paper.pdf"
        ref_file = folder / "headings.md"
        reference = markdown_headings(ref_file.read_text(encoding="utf-8")) if ref_file.exists() else []
        with pymupdf.open(pdf) as doc:
            pages = doc.page_count
        parsers: list[tuple[str, Callable[[Path], list[Heading]]]] = [
            ("ours (papercoder pdf.py)", ours),
            ("ours, outline ignored", ours_no_toc),
        ]
        if _have_p4llm():
            parsers.append(("pymupdf4llm.to_markdown", p4llm))
        else:
            print("pymupdf4llm 0.x not importable: skipped (see this file's docstring)", file=sys.stderr)
        parsers.append(("page.get_text()", get_text_factory(reference)))
        for name, fn in parsers:
            best = float("inf")
            headings: list[Heading] = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                headings = fn(pdf)
                best = min(best, time.perf_counter() - t0)
            scores = {m: score(headings, reference, m) for m in MODES} if reference else {}
            rows.append({"paper": folder.name, "pages": pages, "parser": name, "spp": best / pages, **scores})
    return rows


def _cell(s: object, name: str) -> str:
    if not isinstance(s, Scores):
        return "n/a"
    if name == "page.get_text()":
        return f"({s.row()})"
    return s.row()


def table(rows: list[dict[str, object]]) -> str:
    out = [
        "| paper | parser | s/page | strict P / R / F1 | soft P / R / F1 | soft+level P / R / F1 | order |",
        "|---|---|---:|---|---|---|---:|",
    ]
    for r in rows:
        soft = r.get("soft")
        order = f"{soft.order:.2f}" if isinstance(soft, Scores) and soft.matched else "n/a"
        out.append(
            f"| {r['paper']} ({r['pages']} p.) | {r['parser']} | {r['spp']:.3f} | "
            + " | ".join(_cell(r.get(m), str(r["parser"])) for m in MODES)
            + f" | {order} |"
        )
    return "\n".join(out)


def write_readme(body: str) -> None:
    text = README.read_text(encoding="utf-8") if README.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    block = f"{SECTION}\n\n{body.strip()}\n\n"
    text = pattern.sub(block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block
    README.write_text(text.rstrip() + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="write the table into bench/README.md")
    ap.add_argument("--repeat", type=int, default=3, help="runs per parser; the fastest is reported")
    args = ap.parse_args()
    if not PAPERS.is_dir():
        sys.exit(f"no papers at {PAPERS}")
    rows = bench(args.repeat)
    tab = table(rows)
    print(tab)
    if args.write:
        machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        body = (
            f"Measured {date.today().isoformat()} on {machine}; pymupdf {pymupdf.VersionBind}. "
            f"`python bench/parse.py --write` (best of {args.repeat} runs).\n\n"
            + tab
            + "\n\n"
            + NOTES.replace("{P4LLM}", _p4llm_version())
        )
        write_readme(body)


if __name__ == "__main__":
    main()
