"""Page layout for the PDF parser: spans and rows, body style, running lines, line numbers, reading order.

Each step is a pure function over plain dataclasses, so each can be tested without a PDF.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pymupdf

from papercoder_mcp.paper.pdf_config import ParserConfig

# Expand ligatures (fi, fl) and join hyphenated line ends; skip image bytes, which we never read
# (image boxes come from the much cheaper page.get_image_info()).
TEXT_FLAGS = (
    pymupdf.TEXTFLAGS_DICT & ~pymupdf.TEXT_PRESERVE_LIGATURES & ~pymupdf.TEXT_PRESERVE_IMAGES
) | pymupdf.TEXT_DEHYPHENATE

BOLD_FONT = re.compile(r"bold|black|heavy|semibold|demi|medi|[-,]b[dx]?$|cmbx|cmb\d|\.b$", re.I)
MATH_FONT = re.compile(r"CMMI|CMSY|CMEX|MSBM|MSAM|Math|Symbol|STIX|CMBSY|CMMIB|rsfs|eufm|symb", re.I)
PAGE_NUMBER = re.compile(r"^\s*(\d{1,4}|[ivxlc]{1,6}|page \d+( of \d+)?)\s*$", re.I)
DIGITS_ONLY = re.compile(r"^\s*\d{1,4}\s*$")
_EDGE_NUMBERS = re.compile(r"^[\divxlc\s.\-–|/]+|[\divxlc\s.\-–|/]+$", re.I)

Box = tuple[float, float, float, float]


@dataclass(slots=True)
class Span:
    text: str
    size: float
    font: str
    bold: bool
    italic: bool
    superscript: bool
    bbox: Box
    origin_y: float


@dataclass(slots=True)
class Line:
    """One visual row of text in a block (pymupdf lines on the same baseline merged)."""

    spans: list[Span]
    bbox: Box
    page: int  # 0-based

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.spans).strip()

    @property
    def size(self) -> float:
        """Size of the row's main text: the largest span carrying at least 2 characters, else the largest."""
        sizes = [s.size for s in self.spans if len(s.text.strip()) >= 2] or [s.size for s in self.spans]
        return max(sizes)

    @property
    def bold(self) -> bool:
        visible = [s for s in self.spans if s.text.strip()]
        return bool(visible) and all(s.bold for s in visible)

    @property
    def bold_with_math(self) -> bool:
        """Bold apart from inline math ('F.2. Relating **G∞(w)** to D' sets G∞(w) in math italics): the
        row opens bold and its bold characters are the majority."""
        visible = [s for s in self.spans if s.text.strip()]
        if not visible or not visible[0].bold:
            return False
        text = [s for s in visible if not (MATH_FONT.search(s.font) or s.font.upper().startswith("CM"))]
        bold = sum(len(s.text.strip()) for s in visible if s.bold)
        return all(s.bold for s in text) and 2 * bold >= sum(len(s.text.strip()) for s in visible)

    def rich(self, body_size: float) -> str:
        """Row text with inline ^{superscripts} and _{subscripts}, which keep formulas readable."""
        baseline = max(self.spans, key=lambda s: (s.size, len(s.text))).origin_y
        out: list[str] = []
        group: list[str] = []
        group_kind = ""

        def flush() -> None:
            if group:
                core = "".join(group)
                stripped = core.strip()
                out.append(core.replace(stripped, ("^{" if group_kind == "sup" else "_{") + stripped + "}"))
                group.clear()

        prev_size = 0.0
        for s in self.spans:
            core = s.text.strip()
            if not core and s.size < min(body_size, prev_size or body_size) - 0.5:
                continue  # a small space glued before a footnote mark or index is layout, not text
            if core:
                prev_size = s.size
            kind = ""
            if core and s.size < body_size - 0.5:
                if s.origin_y > baseline + 0.8:
                    kind = "sub"
                elif s.superscript or s.origin_y < baseline - 0.8:
                    kind = "sup"
            if kind and kind == group_kind and not s.text.startswith(" "):
                group.append(s.text)
                continue
            flush()
            group_kind = kind
            if kind:
                group.append(s.text)
            else:
                out.append(s.text)
        flush()
        return "".join(out).strip()


@dataclass(slots=True)
class TBlock:
    """A block of rows; `kind` is filled in by classification ('text', 'table', ...)."""

    lines: list[Line]
    page: int
    kind: str = "text"
    markdown: str = ""
    label: str = ""
    column: str = ""
    box: Box | None = None  # for blocks without rows (detected tables)
    extra: dict[str, str] = field(default_factory=dict)
    bars: list[Box] = field(default_factory=list)  # fraction bars drawn inside a display formula

    @property
    def bbox(self) -> Box:
        if self.box is not None:
            return self.box
        return union([ln.bbox for ln in self.lines]) if self.lines else (0.0, 0.0, 0.0, 0.0)

    @property
    def text(self) -> str:
        return " ".join(ln.text for ln in self.lines).strip()


def union(boxes: list[Box]) -> Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


# TeX's cmex (big operators and delimiters) and cmsy fonts embedded without a Unicode map: pymupdf then
# returns the glyph's slot, so a display sum reads 'X', a big parenthesis NUL, a radical 'p'. The
# table maps the slots of the standard encodings back to what is drawn.
_CMEX = dict(
    zip(
        range(0x00, 0x80),
        "()[]⌊⌋⌈⌉{}⟨⟩|‖/\\()()[]⌊⌋⌈⌉{}⟨⟩/\\()[]⌊⌋⌈⌉{}⟨⟩/\\/\\"
        "⎛⎞⎡⎤⎣⎦⎢⎥⎧⎫⎩⎭⎨⎬⎪|⎝⎠⎜⎟⟨⟩⊔⊔∮∮⊙⊙⊕⊕⊗⊗∑∏∫⋃⋂⊎⋀⋁∑∏∫⋃⋂⊎⋀⋁"
        "∐∐^^^~~~[]⌊⌋⌈⌉{}√√√√√√|⌜↑↓↑↓↑↓⇑⇓",
        strict=False,
    )
)
_CMSY_LOWER = dict(zip(range(0x60, 0x80), "⊢⊣⌊⌋⌈⌉{}⟨⟩|‖↕⇕\\≀√⨿∇∫⊔⊓⊑⊒§†‡¶♣♢♡♠", strict=False))


def tex_glyphs(text: str, font: str) -> str:
    """Text of a span in an unmapped TeX math font (cmex, cmsy), as the glyphs drawn."""
    upper = font.upper()
    if "CMEX" in upper:
        return text.translate(_CMEX)
    if "CMSY" in upper and len(text.strip()) == 1 and text.strip().islower():
        return text.translate(_CMSY_LOWER)
    return text


def scrub(text: str) -> str:
    """Drop control (but newline and tab) and private-use characters: glyphs without a Unicode mapping,
    typically a display formula's big delimiters, which pymupdf returns as NUL, \\x01 or U+E000..."""
    if text.isprintable():
        return text
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Co", "Cs"))


def _span(raw: dict) -> Span:
    font = raw["font"]
    flags = raw["flags"]
    return Span(
        text=scrub(tex_glyphs(raw["text"], font)),
        size=raw["size"],
        font=font,
        bold=bool(flags & 16) or bool(BOLD_FONT.search(font)),
        italic=bool(flags & 2),
        superscript=bool(flags & 1),
        bbox=tuple(raw["bbox"]),
        origin_y=raw["origin"][1],
    )


def _vertical_overlap(a: Box, b: Box) -> float:
    inter = min(a[3], b[3]) - max(a[1], b[1])
    smaller = max(min(a[3] - a[1], b[3] - b[1]), 0.1)
    return inter / smaller


def merge_rows(lines: list[Line], cfg: ParserConfig) -> list[Line]:
    """Merge lines of one block that sit on the same row ('3.1' + 'Encoder ...'), left to right."""
    rows: list[list[Line]] = []
    for ln in sorted(lines, key=lambda x: (x.bbox[1], x.bbox[0])):
        for row in rows:
            if _vertical_overlap(row[-1].bbox, ln.bbox) >= cfg.same_row_overlap:
                row.append(ln)
                break
        else:
            rows.append([ln])
    merged: list[Line] = []
    for row in rows:
        row.sort(key=lambda x: x.bbox[0])
        spans: list[Span] = []
        for i, ln in enumerate(row):
            gap = ln.bbox[0] - row[i - 1].bbox[2] if i else 0.0
            # A space only where there is a visible gap: a footnote mark hugs its word.
            if (
                i
                and gap > 0.2 * max(ln.size, row[i - 1].size)
                and not spans[-1].text.endswith(" ")
                and not ln.spans[0].text.startswith(" ")
            ):
                prev = spans[-1]
                spans.append(
                    Span(" ", prev.size, prev.font, prev.bold, prev.italic, False, prev.bbox, prev.origin_y)
                )
            spans.extend(ln.spans)
        merged.append(Line(spans, union([x.bbox for x in row]), row[0].page))
    merged.sort(key=lambda x: (x.bbox[1], x.bbox[0]))
    return merged


def extract_page(page: pymupdf.Page, cfg: ParserConfig) -> tuple[list[list[Line]], list[Box], int]:
    """Blocks of horizontal, visible lines (not yet row-merged), the page's figure image boxes, and how
    many glyphs had no readable character (dropped; the caller warns)."""
    data = page.get_text("dict", flags=TEXT_FLAGS)
    blocks: list[list[Line]] = []
    unreadable = 0
    for b in data["blocks"]:
        if b.get("type", 0) != 0:
            continue
        lines: list[Line] = []
        for raw in b["lines"]:
            dx, dy = raw["dir"]
            # Rotated text (arXiv's margin stamp, axis labels) is never body text.
            if abs(dy) > 0.01 or dx <= 0:
                continue
            visible = [s for s in raw["spans"] if s["text"] and s.get("alpha", 255) != 0]
            spans = [_span(s) for s in visible]
            unreadable += sum(len(r["text"]) - len(s.text) for r, s in zip(visible, spans, strict=True))
            spans = [s for s in spans if s.text]
            if not any(s.text.strip() for s in spans):
                continue
            lines.append(Line(spans, tuple(raw["bbox"]), page.number))
        if lines:
            blocks.append(lines)
    area = page.rect.width * page.rect.height
    images: list[Box] = []
    if cfg.drop_text_in_images:
        for info in page.get_image_info():
            x0, y0, x1, y1 = info["bbox"]
            if (x1 - x0) * (y1 - y0) < cfg.max_image_page_share * area:
                images.append((x0, y0, x1, y1))
    return blocks, images, unreadable


def inside(inner: Box, outer: Box, slack: float = 1.0) -> bool:
    cx, cy = (inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2
    return outer[0] - slack <= cx <= outer[2] + slack and outer[1] - slack <= cy <= outer[3] + slack


def drop_line_numbers(blocks: list[list[Line]], cfg: ParserConfig) -> tuple[list[list[Line]], int]:
    """Drop review-copy line numbers: many digit-only lines sharing an x that no prose line covers."""
    numeric = [ln for blk in blocks for ln in blk if DIGITS_ONLY.match(ln.text)]
    if len(numeric) < cfg.line_number_min_count:
        return blocks, 0
    prose = [ln for blk in blocks for ln in blk if len(ln.text.split()) >= 3]
    clusters: dict[int, list[Line]] = defaultdict(list)
    for ln in numeric:
        clusters[round(ln.bbox[2] / cfg.line_number_x_tol)].append(ln)
    drop: set[int] = set()
    for members in clusters.values():
        if len(members) < cfg.line_number_min_count:
            continue
        x0 = min(m.bbox[0] for m in members)
        x1 = max(m.bbox[2] for m in members)
        if any(p.bbox[0] < x1 and p.bbox[2] > x0 for p in prose):
            continue  # a numeric table column sits inside prose's width; margin numbers do not
        drop.update(id(m) for m in members)
    if not drop:
        return blocks, 0
    kept = [[ln for ln in blk if id(ln) not in drop] for blk in blocks]
    return [blk for blk in kept if blk], len(drop)


def body_style(pages: list[list[TBlock]]) -> tuple[float, str]:
    """Character-weighted mode of the span size (0.1 pt) and of the font name."""
    sizes: Counter[float] = Counter()
    fonts: Counter[str] = Counter()
    for blocks in pages:
        for blk in blocks:
            for ln in blk.lines:
                for s in ln.spans:
                    n = len(s.text.strip())
                    if n:
                        sizes[round(s.size, 1)] += n
                        fonts[s.font] += n
    if not sizes:
        return 10.0, ""
    return sizes.most_common(1)[0][0], fonts.most_common(1)[0][0]


def normalise_running(text: str) -> str:
    """Lowercase, collapse spaces, strip leading/trailing page numbers (digits, roman numerals)."""
    t = unicodedata.normalize("NFKC", text).lower()
    t = " ".join(t.split())
    return _EDGE_NUMBERS.sub("", t).strip()


def running_lines(
    pages: list[list[TBlock]],
    heights: list[float],
    protected: set[int],
    cfg: ParserConfig,
) -> set[int]:
    """ids of rows that are running headers/footers or page numbers; `protected` rows are never dropped."""
    candidates: list[tuple[int, Line]] = []
    for pno, blocks in enumerate(pages):
        rows = [ln for blk in blocks for ln in blk.lines]
        if not rows:
            continue
        band = cfg.band_share * heights[pno]
        chosen = {id(ln): ln for ln in rows if ln.bbox[3] < band or ln.bbox[1] > heights[pno] - band}
        by_y = sorted(rows, key=lambda x: x.bbox[1])
        for ln in (by_y[0], by_y[-1]):
            chosen[id(ln)] = ln
        candidates.extend((pno, ln) for ln in chosen.values())
    pages_of: dict[str, set[int]] = defaultdict(set)
    for pno, ln in candidates:
        key = normalise_running(ln.text)
        if key:
            pages_of[key].add(pno)
    threshold = max(cfg.repeat_min_pages, cfg.repeat_page_share * len(pages))
    repeated = {k for k, ps in pages_of.items() if len(ps) >= threshold or _has_streak(ps, cfg.repeat_streak)}
    drop: set[int] = set()
    for _pno, ln in candidates:
        if id(ln) in protected:
            continue
        if PAGE_NUMBER.match(ln.text) or normalise_running(ln.text) in repeated:
            drop.add(id(ln))
    return drop


def _has_streak(pages: set[int], n: int) -> bool:
    return any(all(p + i in pages for i in range(n)) for p in pages)


def _column_of(box: Box, mid: float, tol: float) -> str:
    left = box[2] <= mid + tol
    right = box[0] >= mid - tol
    if left and right:
        return "left" if (box[0] + box[2]) / 2 < mid else "right"
    if left:
        return "left"
    if right:
        return "right"
    return "full"


def reading_order(blocks: list[TBlock], width: float, cfg: ParserConfig) -> list[TBlock]:
    """Order one page's blocks: full-width blocks cut bands; in a band, left column then right column."""
    mid = width / 2
    tol = cfg.column_tol_share * width
    min_col_width = 0.25 * width
    counts: Counter[str] = Counter()
    for blk in blocks:
        blk.column = _column_of(blk.bbox, mid, tol)
        if blk.bbox[2] - blk.bbox[0] >= min_col_width:
            counts[blk.column] += len(blk.lines)
    two_columns = min(counts["left"], counts["right"]) >= cfg.two_column_min_lines
    if not two_columns:
        return sorted(blocks, key=lambda b: (round(b.bbox[1], 0), b.bbox[0]))
    fulls = sorted((b for b in blocks if b.column == "full"), key=lambda b: b.bbox[1])
    rest = [b for b in blocks if b.column != "full"]
    out: list[TBlock] = []
    for cut in [*fulls, None]:
        limit = cut.bbox[1] if cut is not None else float("inf")
        band = [b for b in rest if (b.bbox[1] + b.bbox[3]) / 2 < limit]
        rest = [b for b in rest if (b.bbox[1] + b.bbox[3]) / 2 >= limit]
        out.extend(sorted((b for b in band if b.column == "left"), key=lambda b: b.bbox[1]))
        out.extend(sorted((b for b in band if b.column == "right"), key=lambda b: b.bbox[1]))
        if cut is not None:
            out.append(cut)
    return out
