"""LaTeX sources (a .tex file, a source directory, an arXiv tarball) parsed into a `Paper`.

Nothing is executed and no macro package is loaded: the source is read as text, user
`\\newcommand`s are expanded in prose, and math is kept as LaTeX.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from papercoder_mcp.errors import PaperParseError
from papercoder_mcp.paper.latex_body import BodyWalker, bibitems, biblatex_entries, paragraphs
from papercoder_mcp.paper.latex_macros import collect_definitions
from papercoder_mcp.paper.latex_refs import bibitem_labels, biblatex_labels, labels_in, resolve
from papercoder_mcp.paper.latex_source import (
    check_nesting,
    decode_tex,
    extract_archive,
    find_main_file,
    load_tex,
    remove_dead_code,
    strip_comments,
)
from papercoder_mcp.paper.latex_syntax import env_end, is_escaped, read_args, remove_macros, split_top
from papercoder_mcp.paper.latex_text import LatexConverter
from papercoder_mcp.paper.models import Paper

__all__ = ["parse_latex_dir", "parse_latex_file", "parse_latex_tarball", "parse_latex_text"]


def parse_latex_file(path: str | Path) -> Paper:
    """Parse one .tex file; `\\input`s resolve against its directory, and a `.bbl` beside it gives the references."""
    p = Path(path)
    warnings: list[str] = []
    text = load_tex(p, p.parent, warnings)
    return parse_latex_text(text, source=str(p), warnings=warnings, bbl=_find_bbl(p))


def parse_latex_dir(path: str | Path) -> Paper:
    """Parse a LaTeX source directory: find the main file (the one with `\\documentclass`) and parse it."""
    d = Path(path)
    warnings: list[str] = []
    main = find_main_file(d, warnings)
    text = load_tex(main, d, warnings)
    return parse_latex_text(text, source=str(d), warnings=warnings, bbl=_find_bbl(main))


def parse_latex_tarball(path: str | Path) -> Paper:
    """Parse an arXiv source archive (.tar.gz, .tgz, .tar, or a gzipped single .tex), unpacked safely."""
    p = Path(path)
    warnings: list[str] = []
    with tempfile.TemporaryDirectory(prefix="papercoder-latex-") as tmp:
        root = Path(tmp)
        extract_archive(p, root, warnings)
        paper = parse_latex_dir(root)
    paper.source = str(p)
    paper.warnings = warnings + paper.warnings
    return paper


def _find_bbl(main: Path) -> str | None:
    """BibTeX output beside the main file: `main.bbl`, else the only .bbl in the directory."""
    named = main.with_suffix(".bbl")
    bbls = [named] if named.is_file() else sorted(main.parent.glob("*.bbl"))
    if len(bbls) != 1:
        return None
    return strip_comments(decode_tex(bbls[0].read_bytes(), bbls[0].name, []))


def parse_latex_text(
    text: str, source: str = "", warnings: list[str] | None = None, bbl: str | None = None
) -> Paper:
    """Parse LaTeX source that already has its inputs expanded and its comments stripped."""
    check_nesting(text)
    try:
        return _parse_latex_text(text, source, warnings, bbl)
    except RecursionError as exc:  # the nesting scan should make this unreachable; never let it escape
        raise PaperParseError(
            f"{source or 'the source'} nests too deeply to parse (MAX_TEX_NESTING)"
        ) from exc


def _parse_latex_text(text: str, source: str, warnings: list[str] | None, bbl: str | None) -> Paper:
    warnings = list(warnings or [])
    text = remove_dead_code(text)
    text, macros, theorems = collect_definitions(text)
    conv = LatexConverter(macros=macros)
    title = _title(text, conv)
    authors = _authors(text, conv)

    begin = re.search(r"\\begin\s*\{document\}", text)
    end = re.search(r"\\end\s*\{document\}", text)
    if begin is None:
        if re.search(r"\\documentclass", text):
            warnings.append("no \\begin{document}; read everything after \\documentclass as the body")
        body = text[: end.start()] if end else text
        preamble = ""
    else:
        preamble = text[: begin.start()]
        body = text[begin.end() : end.start() if end and end.start() > begin.end() else len(text)]
    body = remove_macros(
        body, {"title": 1, "author": 1, "icmltitle": 1, "icmlauthor": 2, "documentclass": 1, "usepackage": 1}
    )

    walker = BodyWalker(conv, theorems, has_chapters=bool(re.search(r"\\chapter\*?\s*[\[{]", body)))
    walker.walk(body)
    walker.finish()
    if not walker.abstract:
        m = re.search(r"\\begin\s*\{abstract\}", preamble)
        span = env_end(preamble, "abstract", m.end()) if m else None
        if m and span:
            walker.abstract = paragraphs(preamble[m.end() : span[0]], conv)

    references = walker.references
    citations = dict(walker.citations)
    if not references and bbl is not None:
        m = re.search(r"\\begin\s*\{thebibliography\}", bbl)
        span = env_end(bbl, "thebibliography", m.end()) if m else None
        if m and span:
            inner = bbl[m.end() : span[0]]
            inner = inner[read_args(inner, 0, 1)[1] :]  # the {widest label} argument
            references = bibitems(inner, conv)
            citations = bibitem_labels(inner)
        else:
            references = biblatex_entries(bbl)
            citations = biblatex_labels(bbl)
    if not references and walker.bib_commands:
        warnings.append(
            "references left empty: the paper uses "
            + ", ".join(walker.bib_commands)
            + " but no .bbl file was found beside the main file (arXiv sources usually ship one)"
        )
    elif not citations and conv.cite_keys:
        warnings.append(
            f"citations keep their keys ([cite: key], {len(conv.cite_keys)} works): no .bbl file or "
            "thebibliography names them"
        )

    # A "\section*{References}" over \bibliography is an empty heading; the references live apart.
    sections = [
        s
        for s in walker.stack.sections
        if s.blocks or s.children or s.title.lower() not in ("references", "bibliography")
    ]
    paper = Paper(
        title=title,
        authors=authors,
        abstract=walker.abstract,
        sections=sections,
        preamble=walker.stack.preamble,
        captions=walker.captions,
        tables=walker.tables,
        equations=walker.equations,
        footnotes=conv.footnotes,
        references=references,
        page_count=0,
        source=source,
        source_format="latex",
        warnings=warnings,
    )
    if not (paper.title or paper.abstract or paper.sections or paper.preamble):
        raise PaperParseError(
            f"{source or 'LaTeX source'}: the document is empty (no title, abstract, sections or text); "
            "is this the main .tex file?"
        )
    for key in labels_in(body):  # labels the walker could not number (in lists, say) are not undefined
        if key not in walker.labels.targets:
            walker.labels.unnumbered.add(key)
    resolved = resolve(paper, walker.labels, citations)
    if resolved.undefined_refs:
        paper.warnings.append(
            "references to labels the source never defines, kept as keys: "
            + ", ".join(resolved.undefined_refs[:12])
            + (f" and {len(resolved.undefined_refs) - 12} more" if len(resolved.undefined_refs) > 12 else "")
        )
    if resolved.unresolved_cites:
        paper.warnings.append(
            "cited keys missing from the bibliography, kept as keys: "
            + ", ".join(resolved.unresolved_cites[:12])
        )
    if conv.unknown:
        names = sorted(conv.unknown, key=lambda n: (-conv.unknown[n], n))
        paper.warnings.append(
            "macros neither defined in the source nor known to the parser (their arguments kept as text, "
            "their names dropped): "
            + ", ".join(
                f"\\{n}" + (f" ({conv.unknown[n]}x)" if conv.unknown[n] > 1 else "") for n in names[:12]
            )
            + (f" and {len(names) - 12} more" if len(names) > 12 else "")
        )
    return paper


def _first_macro_arg(text: str, names: tuple[str, ...]) -> str | None:
    for m in re.finditer(r"\\(" + "|".join(names) + r")(?![a-zA-Z])", text):
        if is_escaped(text, m.start()):
            continue
        args, _ = read_args(text, m.end(), 1)
        if args:
            return args[0]
    return None


def _title(text: str, conv: LatexConverter) -> str:
    raw = _first_macro_arg(text, ("title", "icmltitle"))
    if raw is None:
        return ""
    # \thanks in a title is a footnote of the title page, not of the paper.
    return conv.to_text(remove_macros(raw, {"thanks": 1, "footnote": 1}))


# fmt: off
AUTHOR_NOISE = {
    "thanks": 1, "footnote": 1, "footnotemark": 0, "inst": 1, "textsuperscript": 1, "orcidlink": 1,
    "orcid": 1, "IEEEauthorrefmark": 1, "affiliation": 1, "affil": 1, "email": 1, "IEEEauthorblockA": 1,
    "institute": 1, "address": 1, "samethanks": 0,
}
# fmt: on


def _authors(text: str, conv: LatexConverter) -> list[str]:
    names: list[str] = []
    for m in re.finditer(r"\\(author|icmlauthor)(?![a-zA-Z])", text):
        if is_escaped(text, m.start()):
            continue
        args, _ = read_args(text, m.end(), 1)
        if not args:
            continue
        # \and between authors; \quad / \hspace between names set on one line do the same job.
        for chunk in re.split(r"\\(?:and|And|AND|quad|qquad)(?![a-zA-Z])|\\hspace\*?\{[^}]*\}", args[0]):
            chunk = remove_macros(chunk, AUTHOR_NOISE)
            chunk = re.sub(r"(?<!\\)\$[^$]*\$", "", chunk)  # $^{1}$ affiliation marks
            first = next((r for r in split_top(chunk, "row") if r.strip()), "")
            line = re.sub(r"[*`]", "", conv.to_text(first)).strip(" ,;†‡§¶0123456789")
            if not line:
                continue
            parts = [p.strip(" ,;*†‡§¶0123456789") for p in re.split(r",|\band\b", line)]
            parts = [p for p in parts if p]
            # "Alice Smith, Bob Jones" on one line are several people; "Alice" alone is one.
            if len(parts) > 1 and all(1 < len(p.split()) <= 4 for p in parts):
                names.extend(parts)
            else:
                names.append(line)
    return names
