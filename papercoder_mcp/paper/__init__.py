"""Paper parsing: PDF (pymupdf heuristics), LaTeX sources, Markdown and plain text, into one `Paper` model."""

from __future__ import annotations

from pathlib import Path

from papercoder_mcp.errors import PaperParseError
from papercoder_mcp.paper.models import Block, Caption, Equation, Paper, Section, Table

__all__ = ["Block", "Caption", "Equation", "Paper", "Section", "Table", "parse_document"]

LATEX_SUFFIXES = {".tex", ".latex"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
TEXT_SUFFIXES = {".txt", ".text"}


def _is_tarball(path: Path) -> bool:
    # arXiv ships sources as a .tar.gz, or as a single gzipped .tex named .gz; both go to the LaTeX reader.
    return path.name.lower().endswith((".tar.gz", ".tgz", ".tar", ".gz"))


def parse_document(path: str | Path) -> Paper:
    """Parse a paper from a PDF, a .tex file, a LaTeX source directory or tarball, Markdown or text.

    Raises PaperParseError with a message that says what is wrong and what to try instead.
    """
    paper = _parse(Path(path).expanduser())
    note_prompt_omissions(paper)
    return paper


def note_prompt_omissions(paper: Paper) -> None:
    """Say in the warnings which parts stay out of prompts (they stay in the stored paper)."""
    left = [x for x in paper.prompt_omissions() if not x.startswith("References (")]
    if left:
        paper.warnings.append("left out of the prompts, kept in the stored paper: " + "; ".join(left))


def _parse(p: Path) -> Paper:
    if not p.exists():
        raise PaperParseError(f"{p}: no such file or directory")
    if p.is_dir():
        from papercoder_mcp.paper.latex import parse_latex_dir

        return parse_latex_dir(p)
    suffix = p.suffix.lower()
    if suffix == ".pdf":
        from papercoder_mcp.paper.pdf import parse_pdf

        return parse_pdf(p)
    if suffix in LATEX_SUFFIXES:
        from papercoder_mcp.paper.latex import parse_latex_file

        return parse_latex_file(p)
    if _is_tarball(p):
        from papercoder_mcp.paper.latex import parse_latex_tarball

        return parse_latex_tarball(p)
    if suffix in MARKDOWN_SUFFIXES or suffix in TEXT_SUFFIXES:
        from papercoder_mcp.paper.markdown import parse_markdown_file

        return parse_markdown_file(p)
    with p.open("rb") as fh:
        head = fh.read(1024)
    if head.startswith(b"%PDF"):
        from papercoder_mcp.paper.pdf import parse_pdf

        return parse_pdf(p)
    raise PaperParseError(
        f"{p}: unsupported file type {suffix or '(none)'!r}; give a .pdf, .tex, .md, .txt, "
        "a LaTeX source directory or an arXiv .tar.gz"
    )
