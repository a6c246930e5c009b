"""Benchmark PDF readings side by side on the real papers in ../shared (one run, one process).

    .venv/bin/python bench/parse.py [--write] [--repeat N]

Engines: our parser on its own heuristics, pymupdf4llm + pymupdf-layout (the vendor's layout model),
and ours on the layout model's regions (the default engine). Per paper: seconds per page, heading
recall and precision against headings.md (soft match, see pdf_metrics), soft+level F1, table facts kept
(facts.tsv, rule in shared/papers/README.md), control/private-use characters in the Markdown.
--write puts the table into the '## Parsing' section of bench/README.md.
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
from dataclasses import dataclass
from datetime import date
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pymupdf

from papercoder_mcp.paper.pdf import ParserConfig, parse_pdf
from papercoder_mcp.paper.pdf_metrics import (
    Heading,
    control_chars,
    fact_recall,
    markdown_headings,
    paper_headings,
    precision_candidates,
    read_facts,
    score,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PAPERS = [
    *sorted((SHARED / "papers").glob("*/paper.pdf")),
    SHARED / "eval" / "bridging-data-gaps" / "paper.pdf",
]
README = ROOT / "bench" / "README.md"
SECTION = "## Parsing"

# An engine turns a PDF into (headings, markdown, warnings).
Result = tuple[list[Heading], str, list[str]]


def ours(engine: str) -> Callable[[Path], Result]:
    def run(path: Path) -> Result:
        paper = parse_pdf(path, ParserConfig(engine=engine))  # type: ignore[arg-type]
        return paper_headings(paper), paper.to_markdown(), paper.warnings

    return run


def p4llm(path: Path) -> Result:
    import pymupdf4llm  # type: ignore[import-not-found]

    with contextlib.redirect_stdout(io.StringIO()):
        # Running headers and footers off (what a reader for an LLM wants), no OCR engine installed.
        md = pymupdf4llm.to_markdown(
            str(path), show_progress=False, header=False, footer=False, use_ocr=False
        )
    return markdown_headings(md), md, []


@dataclass
class Row:
    paper: str
    pages: int
    engine: str
    spp: float
    recall: float | None
    precision: float | None
    level_f1: float | None
    facts: str
    controls: int
    warnings: int


def _versions() -> str:
    out = [f"pymupdf {pymupdf.VersionBind}"]
    for pkg in ("pymupdf-layout", "pymupdf4llm", "onnxruntime"):
        try:
            out.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            out.append(f"{pkg} (not installed)")
    return ", ".join(out)


def bench(repeat: int) -> list[Row]:
    engines: list[tuple[str, Callable[[Path], Result]]] = [
        ("ours, heuristics", ours("heuristic")),
        ("pymupdf4llm + layout", p4llm),
        ("ours on layout regions", ours("layout")),
    ]
    rows: list[Row] = []
    for pdf in PAPERS:
        if not pdf.exists():
            continue
        folder = pdf.parent
        ref_file, facts_file = folder / "headings.md", folder / "facts.tsv"
        reference = markdown_headings(ref_file.read_text(encoding="utf-8")) if ref_file.exists() else []
        facts = read_facts(facts_file.read_text(encoding="utf-8")) if facts_file.exists() else []
        with pymupdf.open(pdf) as doc:
            pages = doc.page_count
        # Engines take turns within each repeat, so a swing in the shared machine's load hits all of
        # them alike instead of whichever happened to run during it.
        best = {name: float("inf") for name, _ in engines}
        results: dict[str, Result] = {}
        for _ in range(repeat):
            for name, fn in engines:
                t0 = time.perf_counter()
                results[name] = fn(pdf)
                best[name] = min(best[name], time.perf_counter() - t0)
        for name, _fn in engines:
            headings, markdown, warnings = results[name]
            recall = precision = level = None
            if reference:
                recall = score(headings, reference, "soft").recall
                precision = score(precision_candidates(headings, reference), reference, "soft").precision
                level = score(headings, reference, "soft+level").f1
            kept = round(fact_recall(markdown, facts) * len(facts)) if facts else 0
            rows.append(
                Row(
                    folder.name,
                    pages,
                    name,
                    best[name] / pages,
                    recall,
                    precision,
                    level,
                    f"{kept}/{len(facts)}" if facts else "n/a",
                    control_chars(markdown),
                    len(warnings),
                )
            )
            print(rows[-1], file=sys.stderr, flush=True)
    return rows


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def table(rows: list[Row]) -> str:
    out = [
        "| paper | engine | s/page | heading R | heading P | soft+level F1 | table facts | control chars | warnings |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r.paper} ({r.pages} p.) | {r.engine} | {r.spp:.3f} | {_f(r.recall)} | {_f(r.precision)} | "
            f"{_f(r.level_f1)} | {r.facts} | {r.controls} | {r.warnings} |"
        )
    return "\n".join(out)


NOTES = """\
- Chosen: ours on layout regions (the default engine). Against the targets of the fidelity issue:
  heading recall >= 0.98 (1.00 on all three papers), table-fact recall >= 0.95 (11/11), 0 control
  characters, and faster than pymupdf4llm + layout on every paper. 'ours, heuristics' here already has
  today's glyph fixes (TeX symbol slots mapped, control characters scrubbed); the parser before this
  work measured 0/6 and 3/5 table facts and 8, 201, 0 and 26 control characters (lbcs, pinn,
  transformer, bridging), with 'no table grid found' on every transformer table.
- Headings: each paper's `headings.md`, soft match (normalised titles, SequenceMatcher ratio >= 0.9,
  greedy in order; `pdf_metrics.score`). The ICML files list only numbered headings, so there precision
  is judged on the numbered headings an engine claims (Abstract, References are true but unlisted);
  the transformer file lists title and Abstract too, so all count. bridging-data-gaps has no
  headings.md or facts.tsv: its row shows speed, control characters and warnings only.
- Table facts: `row label<TAB>value` from `facts.tsv`, kept when one Markdown table row has both as
  separate cells (shared/papers/README.md); emphasis markup (`**5.95e-6**`) is ignored.
- Control chars: Unicode categories Cc (but newline and tab), Co (private use), Cs in the Markdown.
- pymupdf4llm is called as `to_markdown(path, header=False, footer=False, use_ocr=False)`; it leaves
  display equations out of its Markdown entirely (they become images when images are written), which is
  why it has no control characters.
- Timings: best of {REPEAT} runs, wall clock on a shared 2-core machine whose load swings (+-50 %
  between runs); the engines take turns within each repeat. All run in one process; the layout model
  is loaded once, before the first timed call. Ours runs the model only on pages with a figure or
  table caption or an image (`ParserConfig.layout_pages`); pymupdf4llm runs it on every page."""


def write_readme(body: str) -> None:
    text = README.read_text(encoding="utf-8") if README.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    block = f"{SECTION}\n\n{body.strip()}\n\n"
    text = pattern.sub(lambda _m: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block
    README.write_text(text.rstrip() + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--write", action="store_true", help="write the table into bench/README.md")
    ap.add_argument("--repeat", type=int, default=3, help="runs per engine; the fastest is reported")
    args = ap.parse_args()
    if not (SHARED / "papers").is_dir():
        sys.exit(f"no papers at {SHARED / 'papers'}")
    import pymupdf.layout  # noqa: F401  (load the model before timing anything)

    rows = bench(args.repeat)
    tab = table(rows)
    print(tab)
    if args.write:
        machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        body = (
            f"Measured {date.today().isoformat()} on {machine}; {_versions()}. "
            f"`.venv/bin/python bench/parse.py --write --repeat {args.repeat}`.\n\n"
            + tab
            + "\n\n"
            + NOTES.replace("{REPEAT}", str(args.repeat))
        )
        write_readme(body)


if __name__ == "__main__":
    main()
