"""Parse a PDF paper into a `Paper` with pymupdf alone: no model weights, milliseconds per page.

The pipeline follows shared/PARSING.md:

1. extract rows of spans (ligatures expanded, hyphens joined, rotated and invisible text dropped);
2. body style = character-weighted mode of size and font;
3. drop running headers/footers, page numbers and review line numbers (never the title);
4. reading order per page: full-width blocks cut bands, then left column, then right column;
5. classify blocks: captions, tables (placed after their caption), display equations, footnotes;
6. headings from the PDF outline when there is one, else numbering + style + known names;
7. assemble title, authors, abstract, a section tree, references apart, and warnings.
"""

from __future__ import annotations

import re
from pathlib import Path

import pymupdf

from papercoder_mcp.errors import PaperParseError
from papercoder_mcp.paper.models import Block, Caption, Equation, Paper, Section, Table
from papercoder_mcp.paper.pdf_blocks import (
    CAPTION,
    caption_of,
    equation_text,
    find_tables,
    is_equation,
    is_footnote,
    merge_equation_fragments,
    run_in_label,
    split_footnotes,
    split_references,
)
from papercoder_mcp.paper.pdf_config import ParserConfig
from papercoder_mcp.paper.pdf_floats import (
    formula_blocks,
    furniture,
    layout_tables,
    regions_wanted,
    trusted_pictures,
)
from papercoder_mcp.paper.pdf_headings import APPENDIX_START, KNOWN, REFERENCES, Heading, detect_headings
from papercoder_mcp.paper.pdf_layout import (
    Box,
    Line,
    TBlock,
    body_style,
    drop_line_numbers,
    extract_page,
    inside,
    merge_rows,
    reading_order,
    running_lines,
)
from papercoder_mcp.paper.pdf_math import fraction_bars
from papercoder_mcp.paper.pdf_regions import Region, layout_available, page_regions

__all__ = ["ParserConfig", "parse_pdf"]

ABSTRACT_RUN_IN = re.compile(r"^\s*abstract\s*[.:—–-]\s*", re.I)
AFFILIATION = re.compile(
    r"@|university|institute|universit|college|school|department|dept\.|laborator|\blab\b|research|inc\.|"
    r"corporation|google|microsoft|meta\b|deepmind|openai|\bai\b|academy|center|centre|http|www\.",
    re.I,
)
AUTHOR_MARKS = re.compile(r"[∗*†‡§¶#\d,]+$")


def parse_pdf(path: Path, config: ParserConfig | None = None) -> Paper:
    """Parse the PDF at `path`; raise PaperParseError saying what to do when it cannot be read."""
    cfg = config or ParserConfig()
    path = Path(path)
    doc = _open(path)
    try:
        return _parse(doc, path, cfg)
    finally:
        doc.close()


def _open(path: Path) -> pymupdf.Document:
    if not path.exists():
        raise PaperParseError(f"{path}: no such file")
    with path.open("rb") as fh:
        head = fh.read(1024)
    if b"%PDF" not in head:
        kind = (
            "an HTML page" if b"<html" in head.lower() or b"<!doctype" in head.lower() else "something else"
        )
        raise PaperParseError(
            f"{path}: not a readable PDF (it looks like {kind}). Download the PDF itself, "
            "or give the paper's LaTeX source instead."
        )
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except Exception as exc:  # pymupdf raises FileDataError, EmptyFileError, RuntimeError...
        raise PaperParseError(
            f"{path}: not a readable PDF ({exc}). Check that the download is complete and really a PDF "
            "(not an HTML page), or give the paper's LaTeX source instead."
        ) from exc
    if doc.needs_pass:
        doc.close()
        raise PaperParseError(
            f"{path}: the PDF is encrypted and needs a password. Save an unlocked copy "
            "(e.g. `qpdf --decrypt --password=... in.pdf out.pdf`) or give the LaTeX source instead."
        )
    if doc.page_count == 0:
        doc.close()
        raise PaperParseError(
            f"{path}: the PDF has no pages. Check the file, or give the LaTeX source instead."
        )
    return doc


def _parse(doc: pymupdf.Document, path: Path, cfg: ParserConfig) -> Paper:
    warnings: list[str] = []
    if doc.page_count > cfg.long_pdf_pages:
        warnings.append(
            f"{doc.page_count} pages: longer than a paper usually is (> {cfg.long_pdf_pages}); parsed anyway"
        )
    pages: list[list[TBlock]] = []
    widths: list[float] = []
    heights: list[float] = []
    has_images = False
    regions: list[list[Region] | None] = []
    unreadable_pages: dict[int, int] = {}
    use_layout = cfg.engine == "layout" and _layout_ready(warnings)
    for page in doc.pages():
        raw_blocks, images, unreadable = extract_page(page, cfg)
        if unreadable:
            unreadable_pages[page.number + 1] = unreadable
        has_images = has_images or bool(images) or bool(page.get_images())
        raw_blocks, _n = drop_line_numbers(raw_blocks, cfg)
        page_regions_ = _regions(page, raw_blocks, images, cfg, warnings) if use_layout else None
        regions.append(page_regions_)
        pictures = trusted_pictures(page_regions_ or [], raw_blocks)
        blocks: list[TBlock] = []
        for lines in raw_blocks:
            if images:
                lines = [ln for ln in lines if not any(inside(ln.bbox, im) for im in images)]
            if pictures and not CAPTION.match(lines[0].text if lines else ""):
                # Axis ticks, legends and labels of a vector figure: the figure's, not the body's.
                lines = [ln for ln in lines if not any(inside(ln.bbox, pic) for pic in pictures)]
            if lines:
                blocks.append(TBlock(merge_rows(lines, cfg), page.number))
        pages.append(blocks)
        widths.append(page.rect.width)
        heights.append(page.rect.height)

    if unreadable_pages:
        where = ", ".join(f"page {p} ({n})" for p, n in unreadable_pages.items())
        warnings.append(
            f"glyphs without a readable character (symbols of formulas) were dropped on {where}; "
            "check the equations there against the PDF"
        )
    if not any(pages):
        if has_images:
            raise PaperParseError(
                f"{path}: no text layer on any of its {doc.page_count} pages: it looks scanned (images "
                "only). Give the paper's LaTeX source instead (on arXiv: 'Other formats' > 'Download "
                "source'), or run OCR on the PDF first (e.g. `ocrmypdf`)."
            )
        raise PaperParseError(
            f"{path}: the PDF contains no text (its {doc.page_count} page(s) are empty). "
            "Check the file, or give the LaTeX source instead."
        )

    body_size, body_font = body_style(pages)
    title_rows = _title_rows(pages[0], body_size)
    protected = {id(r) for r in title_rows}
    dropped = running_lines(pages, heights, protected, cfg)
    for pno, blocks in enumerate(pages):
        chrome = furniture(regions[pno] or [], heights[pno], cfg)
        if chrome:  # a venue footer on page 1 alone never repeats, but the model knows it
            dropped.update(
                id(ln)
                for b in blocks
                for ln in b.lines
                if id(ln) not in protected and any(inside(ln.bbox, f) for f in chrome)
            )
    for pno, blocks in enumerate(pages):
        for blk in blocks:
            blk.lines = [ln for ln in blk.lines if id(ln) not in dropped]
        pages[pno] = [b for b in blocks if b.lines]

    ordered: list[TBlock] = []
    lefts: dict[tuple[int, str], float] = {}
    page_mids: dict[int, float] = {}
    for page, blocks in zip(doc.pages(), pages, strict=True):
        pno = page.number
        width, height = widths[pno], heights[pno]
        page_mids[pno] = width / 2
        captions = [b for b in blocks if caption_of(b)]
        table_caps = [b for b in captions if caption_of(b)[0] == "table"]  # type: ignore[index]
        text_blocks = [b for b in blocks if b not in captions]
        tables: list[TBlock] = []
        page_regions_ = regions[pno]
        if page_regions_ is not None:
            found = layout_tables(page, page_regions_, table_caps, cfg, warnings)
            text_blocks = formula_blocks(text_blocks, page_regions_, pno)
        else:
            found = []
        open_caps = [c for c in table_caps if not any(cap is c for _b, _m, cap in found)]
        if open_caps:
            words = page.get_text("words")
            found += find_tables(page, open_caps, words, cfg)
        for box, markdown, cap in found:
            for blk in text_blocks:
                blk.lines = [ln for ln in blk.lines if not inside(ln.bbox, box)]
            tbl = TBlock([], pno, kind="table", markdown=markdown, box=box)
            if cap is not None:
                tbl.label = "Table " + (caption_of(cap) or ("", ""))[1]
                cap.extra["table"] = "yes"
            tables.append(tbl)
        text_blocks = [b for b in text_blocks if b.lines]
        if table_caps:
            for cap in table_caps:
                if "table" not in cap.extra:
                    warnings.append(
                        f"page {pno + 1}: no table grid found for '{cap.lines[0].text[:40]}'; kept its text lines"
                    )
        text_blocks = merge_equation_fragments(text_blocks, body_font, cfg)
        page_blocks = reading_order(text_blocks + captions + tables, width, cfg)
        lefts.update(_column_lefts(page_blocks, pno, width))
        text_left = lefts.get((pno, "left"), 0.0)
        text_right = max((b.bbox[2] for b in page_blocks), default=width)
        for blk in page_blocks:
            if blk.kind == "table":
                continue
            if caption_of(blk):
                blk.kind = "caption"
            elif is_footnote(blk, body_size, height, cfg):
                blk.kind = "footnote"
            else:
                col_box: Box = (text_left, 0.0, text_right, height)
                if blk.column == "left" and lefts.get((pno, "right")) is not None:
                    col_box = (text_left, 0.0, width / 2, height)
                elif blk.column == "right" and lefts.get((pno, "right")) is not None:
                    col_box = (lefts[(pno, "right")], 0.0, text_right, height)
                if blk.extra.get("formula") or is_equation(blk, body_size, body_font, col_box, cfg):
                    blk.kind = "equation"
        equations = [b for b in page_blocks if b.kind == "equation"]
        if equations:
            bars = fraction_bars(page, [b.bbox for b in equations])
            for b in equations:
                b.bars = [bar for bar in bars if inside(bar, b.bbox, slack=2.0)]
        page_blocks = _join_caption_rest(page_blocks, body_size)
        if pno == 0:
            page_blocks = [b for b in page_blocks if not _venue_note(b, body_size, height)]
        ordered.extend(_tables_after_captions(page_blocks))

    toc = doc.get_toc(simple=True) if cfg.use_toc else []
    headings = detect_headings(ordered, body_size, toc, lefts, cfg)
    if not headings:
        warnings.append("no section headings found; the body is kept as one preamble")
    paper = _assemble(ordered, headings, title_rows, body_size, page_mids, cfg, warnings)
    paper.page_count = doc.page_count
    paper.source = str(path)
    return paper


def _layout_ready(warnings: list[str]) -> bool:
    if layout_available():
        return True
    warnings.append(
        "pymupdf-layout is not installed: tables, figures and formulas were read by geometry alone "
        "(pip install pymupdf-layout)"
    )
    return False


def _regions(
    page: pymupdf.Page,
    raw_blocks: list[list[Line]],
    images: list[Box],
    cfg: ParserConfig,
    warnings: list[str],
) -> list[Region] | None:
    """The layout model's regions of a page that needs them, else None (the heuristics read it)."""
    if cfg.layout_pages == "floats" and not regions_wanted(raw_blocks, images, page):
        return None
    try:
        return page_regions(page)
    except Exception as exc:  # a model failure on one page must not lose the paper
        warnings.append(f"page {page.number + 1}: layout model failed ({exc}); read by geometry alone")
        return None


def _title_rows(blocks: list[TBlock], body_size: float) -> list[Line]:
    """The largest text on page 1 (and rows of the same size directly under it): the title."""
    rows = [ln for b in blocks for ln in b.lines if sum(ch.isalpha() for ch in ln.text) >= 2]
    if not rows:
        return []
    top = max(ln.size for ln in rows)
    if top < body_size + 1.0:
        return []
    first = min((ln for ln in rows if ln.size >= top - 0.3), key=lambda ln: ln.bbox[1])
    out = [first]
    for ln in sorted(rows, key=lambda x: x.bbox[1]):
        if ln is first or ln.bbox[1] <= out[-1].bbox[1]:
            continue
        line_h = out[-1].bbox[3] - out[-1].bbox[1]
        if abs(ln.size - top) <= 0.5 and ln.bbox[1] - out[-1].bbox[3] < 0.8 * line_h:
            out.append(ln)
        elif ln.bbox[1] > out[-1].bbox[3]:
            break
    return out


def _join_caption_rest(blocks: list[TBlock], body_size: float) -> list[TBlock]:
    """A caption pymupdf cut into blocks (at a line with an inline superscript or a wider gap) goes on
    in the text block right under it in the caption's own type size."""
    out: list[TBlock] = []
    for blk in blocks:
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.kind == "caption"
            and blk.kind == "text"
            and blk.lines
            and not caption_of(blk)
            and (prev.lines[-1].size < body_size - 0.3 or not prev.text.endswith("."))
            and abs(blk.lines[0].size - prev.lines[-1].size) <= 0.3
            and 0 <= blk.bbox[1] - prev.bbox[3] < 1.2 * (prev.lines[-1].bbox[3] - prev.lines[-1].bbox[1])
            and min(blk.bbox[2], prev.bbox[2]) - max(blk.bbox[0], prev.bbox[0]) > 0
        ):
            prev.lines = prev.lines + blk.lines
            continue
        out.append(blk)
    return out


VENUE = re.compile(
    r"^(copyright|©|\(c\) \d{4}|proceedings of|preprint|under review|accepted (at|to)|published (at|in)"
    r"|\d+(st|nd|rd|th) conference on|workshop on)|conference on neural information processing",
    re.I,
)


def _venue_note(blk: TBlock, body_size: float, height: float) -> bool:
    """The venue/copyright note at the foot of page 1 ('Proceedings of the 41st ICML ... Copyright 2024
    by the author(s)', '38th Conference on Neural Information Processing Systems'): not paper text."""
    if blk.kind not in ("text", "footnote") or not blk.lines or blk.bbox[1] < 0.7 * height:
        return False
    return max(ln.size for ln in blk.lines) < body_size + 0.5 and bool(VENUE.search(blk.lines[0].text))


def _column_lefts(blocks: list[TBlock], pno: int, width: float) -> dict[tuple[int, str], float]:
    """Left edge of prose rows per column: headings must start there (or be large)."""
    out: dict[tuple[int, str], float] = {}
    for col in ("left", "right"):
        xs = sorted(
            ln.bbox[0]
            for b in blocks
            if (b.column == "right") == (col == "right")
            for ln in b.lines
            if len(ln.text.split()) >= 4
        )
        if xs:
            out[(pno, col)] = xs[len(xs) // 10]
    return out


def _tables_after_captions(blocks: list[TBlock]) -> list[TBlock]:
    """Move each detected table to just after its 'Table N' caption."""
    tables = {b.label: b for b in blocks if b.kind == "table" and b.label}
    if not tables:
        return blocks
    placed = {id(b) for b in tables.values()}
    out: list[TBlock] = []
    for b in blocks:
        if id(b) in placed:
            continue
        out.append(b)
        cap = caption_of(b) if b.kind == "caption" else None
        if cap and cap[0] == "table":
            tbl = tables.pop(f"Table {cap[1]}", None)
            if tbl is not None:
                out.append(tbl)
    out.extend(tables.values())  # a table whose caption went missing still keeps its place at the end
    return out


def _paragraph_text(blk: TBlock, body_size: float) -> str:
    text = ""
    for ln in blk.lines:
        t = ln.rich(body_size)
        if not text:
            text = t
        elif text.endswith("-") and t[:1].islower() and not text.endswith(" -"):
            text = text[:-1] + t
        elif text.endswith("-") and t[:1].isupper() and not text.endswith(" -"):
            text = text + t  # a compound broken at its hyphen: 'L-' + 'BFGS'

        else:
            text = f"{text} {t}"
    return " ".join(text.split())


class _Builder:
    """Collect blocks into sections while walking the document in reading order."""

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self.stack: list[Section] = []
        self.preamble: list[Block] = []

    def open(self, h: Heading) -> None:
        section = Section(title=h.title, number=h.number, level=max(1, min(h.level, 6)), page=h.page + 1)
        while self.stack and self.stack[-1].level >= section.level:
            self.stack.pop()
        (self.stack[-1].children if self.stack else self.sections).append(section)
        self.stack.append(section)

    def add(self, block: Block) -> None:
        blocks = self.stack[-1].blocks if self.stack else self.preamble
        if block.kind == "paragraph" and _continues(block.text):
            # A paragraph cut by a column or page break (or by an inline formula's tall glyph) goes on
            # in the next block; figures and tables set in between stay after the whole paragraph.
            for prev in reversed(blocks):
                if prev.kind in ("caption", "table"):
                    continue
                if prev.kind in ("paragraph", "label") and not _finished(prev.text):
                    prev.text = _join_text(prev.text, block.text)
                    return
                break
        blocks.append(block)


def _finished(text: str) -> bool:
    return text.rstrip().endswith((".", "!", "?", ":", "”", '"')) or not text.strip()


def _continues(text: str) -> bool:
    head = text.lstrip()[:2]
    return bool(head) and (head[0].islower() or head in ("_{", "^{") or head[0] in ",;)]")


def _join_text(a: str, b: str) -> str:
    if a.endswith("-") and not a.endswith(" -") and b[:1].islower():
        return a[:-1] + b
    if a.endswith("-") and not a.endswith(" -") and b[:1].isupper():
        return a + b
    return f"{a} {b}"


def _assemble(
    ordered: list[TBlock],
    headings: dict[int, tuple[Heading, int]],
    title_rows: list[Line],
    body_size: float,
    page_mids: dict[int, float],
    cfg: ParserConfig,
    warnings: list[str],
) -> Paper:
    title_ids = {id(r) for r in title_rows}
    paper = Paper(title=" ".join(r.text for r in title_rows).strip())
    build = _Builder()
    mode = "body"  # or 'front' (page 1 before the abstract), 'abstract', 'references'
    abstract: list[str] = []
    abstract_size = 0.0
    ref_lines: list[Line] = []
    front: list[TBlock] = []
    seen_title = not title_rows
    has_abstract_heading = any(h.title.lower() == "abstract" for h, _ in headings.values())
    if title_rows:
        mode = "front"

    for idx, blk in enumerate(ordered):
        lines = [ln for ln in blk.lines if id(ln) not in title_ids]
        if blk.lines and not lines:
            seen_title = True
            continue
        if len(lines) != len(blk.lines):
            seen_title = True
            blk = TBlock(lines, blk.page, blk.kind, blk.markdown, blk.label, blk.column, blk.box, blk.extra)
        heading = headings.get(idx)
        if heading is not None:
            h, nrows = heading
            rest_lines = blk.lines[nrows:] if nrows else [_strip_run_in(blk.lines[0], cfg), *blk.lines[1:]]
            rest = TBlock(rest_lines, blk.page, blk.kind, column=blk.column) if rest_lines else None
            if h.title.lower() == "abstract" and not h.number:
                mode = "abstract"
            elif REFERENCES.match(h.title) and not h.number:
                mode = "references"
            else:
                if mode == "front":
                    _front_matter(paper, front, cfg, build, body_size)
                    front = []
                mode = "body"
                build.open(h)
            if rest is None:
                continue
            blk = rest
        if mode == "front":
            # Abstract written run-in ('Abstract—We ...') ends the front matter.
            m = ABSTRACT_RUN_IN.match(blk.text) if blk.kind == "text" and not has_abstract_heading else None
            if m:
                _front_matter(paper, front, cfg, build, body_size)
                front = []
                mode = "abstract"
                abstract.append(_paragraph_text(blk, body_size)[m.end() :].strip())
                continue
            if blk.page == 0 and blk.kind == "text" and seen_title:
                front.append(blk)
                continue
            if blk.kind == "text" and not seen_title:
                build.add(Block(kind="paragraph", text=_paragraph_text(blk, body_size), page=blk.page + 1))
                continue
        size = max((ln.size for ln in blk.lines), default=0.0)
        if mode == "abstract" and abstract and size <= abstract_size - cfg.footnote_size_delta:
            mode = "body"  # venue lines and notes set smaller than the abstract end it
        if mode == "abstract" and blk.kind == "text" and not APPENDIX_START.match(blk.text):
            if front:
                _front_matter(paper, front, cfg, build, body_size)
                front = []
            abstract.append(_paragraph_text(blk, body_size))
            abstract_size = abstract_size or size
            continue
        if mode == "references" and blk.kind in ("text", "equation", "caption") and not _is_float(blk):
            ref_lines.extend(blk.lines)
            continue
        _emit(blk, paper, build, body_size, cfg)
    if front:
        _front_matter(paper, front, cfg, build, body_size)
    paper.abstract = " ".join(a for a in abstract if a).strip()
    paper.sections = build.sections
    paper.preamble = build.preamble
    paper.references = split_references(ref_lines, page_mids)
    paper.warnings = warnings
    return paper


def _strip_run_in(line: Line, cfg: ParserConfig) -> Line:
    """The row without its bold run-in label."""
    i = 0
    while i < len(line.spans) and (line.spans[i].bold or not line.spans[i].text.strip()):
        i += 1
    spans = line.spans[i:]
    return Line(spans, line.bbox, line.page)


def _is_float(blk: TBlock) -> bool:
    return blk.kind == "caption"


def _front_matter(
    paper: Paper, front: list[TBlock], cfg: ParserConfig, build: _Builder, body_size: float
) -> None:
    """Authors are the rows between the title and the abstract: names, not affiliations or e-mails."""
    authors: list[str] = []
    for blk in front:
        names_here = False
        for ln in blk.lines:
            text = _marks_as_commas(ln)
            if AFFILIATION.search(text) or len(re.findall(r"\w+", text)) > 24:
                continue
            for part in re.split(r",|\band\b|;|·|\s{3,}", text):
                name = AUTHOR_MARKS.sub("", part.strip()).strip(" ∗*†‡")
                words = name.split()
                if 2 <= len(words) <= 5 and all(w[:1].isupper() or w[:1] in "ŁÉ" for w in words):
                    authors.append(name)
                    names_here = True
            if names_here:
                break  # in author grids the name is the first row of each block; the rest is affiliation
    # Front matter can arrive in pieces (names, then a later block of affiliations): keep what was found.
    paper.authors = list(dict.fromkeys([*paper.authors, *authors]))[: cfg.max_authors]


def _marks_as_commas(line: Line) -> str:
    """Row text with small affiliation marks ('Xiaobo Xia 1 Jiale Liu 2', ICML style) turned into
    commas, so names listed without separators split like 'A, B and C'."""
    top = line.size
    return "".join("," if s.text.strip() and s.size < top - 1.5 else s.text for s in line.spans)


def _emit(blk: TBlock, paper: Paper, build: _Builder, body_size: float, cfg: ParserConfig) -> None:
    page = blk.page + 1
    if blk.kind == "table":
        number = blk.label.removeprefix("Table ").strip()
        caption = next(
            (c.text for c in reversed(paper.captions) if c.kind == "table" and c.number == number), ""
        )
        paper.tables.append(Table(number=number, caption=caption, markdown=blk.markdown, page=page))
        build.add(Block(kind="table", text=blk.markdown, label=blk.label, page=page, markdown=blk.markdown))
        return
    if blk.kind == "caption":
        kind, number = caption_of(blk) or ("figure", "")
        text = _paragraph_text(blk, body_size)
        paper.captions.append(Caption(kind=kind, number=number, text=text, page=page))
        m = re.match(r"^\S+\s*[A-Z]?\d+(\.\d+)?", text)
        label = m.group(0) if m else ""
        build.add(Block(kind="caption", text=text, label=label, page=page))
        return
    if blk.kind == "footnote":
        paper.footnotes.extend(split_footnotes(blk, body_size))
        return
    if blk.kind == "equation":
        text, label = equation_text(blk, body_size)
        paper.equations.append(Equation(text=text, label=label, page=page))
        build.add(Block(kind="equation", text=text, label=label, page=page))
        return
    first = blk.lines[0]
    if cfg.run_in_headings:
        split = run_in_label(first, cfg)
        if split is not None and not KNOWN.match(split[0].rstrip(".:")):
            label, rest = split
            body = _paragraph_text(TBlock(blk.lines[1:], blk.page), body_size) if len(blk.lines) > 1 else ""
            text = _join_text(rest, body) if body else rest
            build.add(Block(kind="label", label=label, text=text.strip(), page=page))
            return
    build.add(Block(kind="paragraph", text=_paragraph_text(blk, body_size), page=page))
