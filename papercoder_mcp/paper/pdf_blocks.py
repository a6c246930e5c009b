"""Block classification for the PDF parser: captions, display equations, footnotes, run-in labels, tables,
and splitting the reference list into entries."""

from __future__ import annotations

import re
import unicodedata

import pymupdf

from papercoder_mcp.paper.pdf_config import ParserConfig
from papercoder_mcp.paper.pdf_layout import MATH_FONT, Box, Line, TBlock, inside
from papercoder_mcp.paper.pdf_math import rebuild_row

# find_tables() would otherwise print an advert for pymupdf_layout to stdout once, which corrupts the
# MCP stdio stream when the server parses a paper.
if hasattr(pymupdf, "no_recommend_layout"):
    pymupdf.no_recommend_layout()

CAPTION = re.compile(
    r"^(?P<kind>Figure|Fig\.|Table|Algorithm|Alg\.)\s*(?P<num>[A-Z]?\d+(\.\d+)?)\s*[.:|]", re.I
)
EQ_LABEL = re.compile(r"\((?P<n>\d{1,3}[a-z]?|[A-Z]\.\d{1,3})\)\s*$")
NUMBER_TOKEN = re.compile(r"[-+−]?\d+([.,]\d+)?%?|\[\d+\]|·|±|×")
FOOTNOTE_MARKERS = set("*∗†‡§¶‖#")
REF_BRACKET = re.compile(r"^\s*\[(\d{1,3}|[A-Za-z][\w+.\-]{0,20})\]\s*")
REF_NUMBER = re.compile(r"^\s*\d{1,3}\.\s+\S")
# Math codepoints: Greek, letterlike symbols, arrows, operators, misc technical, math alphanumerics.
_MATH_RANGES = ((0x0370, 0x03FF), (0x2100, 0x214F), (0x2190, 0x22FF), (0x2300, 0x23FF), (0x27C0, 0x27EF))
_MATH_ASCII = set("=+<>^_|")


def caption_of(block: TBlock) -> tuple[str, str] | None:
    """(kind, number) when the block starts a Figure/Table/Algorithm caption."""
    if not block.lines:
        return None
    m = CAPTION.match(block.lines[0].text)
    if not m:
        return None
    kind = m.group("kind").lower().rstrip(".")
    kind = {"fig": "figure", "alg": "algorithm"}.get(kind, kind)
    return kind, m.group("num")


def _math_font(font: str, body_font: str) -> bool:
    if MATH_FONT.search(font):
        return True
    # Computer Modern in a document whose body is not CM is math (CMR10 digits, brackets, operators).
    return font.upper().startswith("CM") and not body_font.upper().startswith("CM")


def _is_math_codepoint(ch: str) -> bool:
    cp = ord(ch)
    return ch in _MATH_ASCII or any(lo <= cp <= hi for lo, hi in _MATH_RANGES) or (0x1D400 <= cp <= 0x1D7FF)


def math_share(lines: list[Line], body_font: str) -> float:
    total = mathy = 0
    for ln in lines:
        for s in ln.spans:
            core = s.text.strip()
            if not core or EQ_LABEL.fullmatch(core):
                continue  # the '(3)' label is set in the text font; it says nothing about the formula
            n = len(core) - core.count(" ")
            total += n
            if _math_font(s.font, body_font):
                mathy += n
            else:
                mathy += sum(_is_math_codepoint(ch) for ch in core)
    return mathy / total if total else 0.0


def is_equation(block: TBlock, body_size: float, body_font: str, col_box: Box, cfg: ParserConfig) -> bool:
    """A display equation: mostly math characters, not small print, narrower than its column or labelled."""
    if not block.lines or len(block.lines) > cfg.equation_max_rows:
        return False
    if max(ln.size for ln in block.lines) < cfg.equation_min_size_share * body_size:
        return False  # math inside a footnote
    text = block.text
    labelled = bool(EQ_LABEL.search(text))
    core = EQ_LABEL.sub("", text).strip()
    if not core or len(core.split()) > 60:
        return False
    if not labelled and len(core.replace(" ", "")) < cfg.equation_min_chars:
        return False  # a stray limit or index ('∑_{n}', '_{i=1}') of inline math, not a display formula
    if math_share(block.lines, body_font) < cfg.math_char_share:
        return False
    tokens = core.split()
    if sum(bool(NUMBER_TOKEN.fullmatch(t)) for t in tokens) > cfg.equation_max_number_share * len(tokens):
        return False  # rows of a table whose grid was not found: numbers, not a formula
    x0, _, x1, _ = block.bbox
    col_w = max(col_box[2] - col_box[0], 1.0)
    narrower = (x1 - x0) < 0.9 * col_w
    indented = x0 > col_box[0] + 0.05 * col_w
    return labelled or (narrower and indented)


def merge_equation_fragments(blocks: list[TBlock], body_font: str, cfg: ParserConfig) -> list[TBlock]:
    """Join the pieces pymupdf splits one display formula into (numerator, sqrt, label) when they overlap
    vertically and are each mostly math or just a '(3)' label."""

    cache: dict[int, bool] = {}

    def mathy(b: TBlock) -> bool:
        if id(b) not in cache:
            cache[id(b)] = bool(EQ_LABEL.fullmatch(b.text.strip())) or (
                len(b.lines) <= cfg.equation_max_rows
                and math_share(b.lines, body_font) >= cfg.math_char_share
            )
        return cache[id(b)]

    out: list[TBlock] = []
    for blk in sorted(blocks, key=lambda b: b.bbox[1]):
        if out and mathy(blk):
            for prev in reversed(out[-4:]):
                pb, bb = prev.bbox, blk.bbox
                if mathy(prev) and min(pb[3], bb[3]) - max(pb[1], bb[1]) > -2.0:
                    prev.lines = sorted(prev.lines + blk.lines, key=lambda ln: (ln.bbox[1], ln.bbox[0]))
                    break
            else:
                out.append(blk)
            continue
        out.append(blk)
    return out


def equation_text(block: TBlock, body_size: float) -> tuple[str, str]:
    """(glyph text, label) of an equation block; fragments on one baseline become one line."""
    rows: list[list[Line]] = []
    for ln in sorted(block.lines, key=lambda x: x.bbox[1]):
        if rows and min(rows[-1][-1].bbox[3], ln.bbox[3]) - max(rows[-1][-1].bbox[1], ln.bbox[1]) > 2:
            rows[-1].append(ln)
        else:
            rows.append([ln])
    texts = [
        rebuild_row(r, block.bars, body_size)
        or " ".join(x.rich(body_size) for x in sorted(r, key=lambda x: x.bbox[0]))
        for r in rows
    ]
    text = "\n".join(t for t in texts if t)
    label = ""
    m = EQ_LABEL.search(text)
    if m:
        label = f"({m.group('n')})"
        text = text[: m.start()].rstrip()
    else:
        # A label may sit on an earlier row of a multi-line equation (labelled first line).
        for i, t in enumerate(texts):
            mm = EQ_LABEL.search(t)
            if mm:
                label = f"({mm.group('n')})"
                texts[i] = t[: mm.start()].rstrip()
                text = "\n".join(x for x in texts if x)
                break
    return text, label


def footnote_marker(line: Line, body_size: float) -> str | None:
    """The footnote mark opening a row ('1', '*', '†') if there is one."""
    spans = [s for s in line.spans if s.text.strip()]
    if not spans:
        return None
    first = spans[0]
    core = first.text.strip()
    if core[:1] in FOOTNOTE_MARKERS:
        return core[:1]
    nxt = spans[1] if len(spans) > 1 else None
    small = nxt is not None and first.size < nxt.size - 1.0
    if (first.superscript or small) and len(core) <= 3:
        return core
    return None


def is_footnote(block: TBlock, body_size: float, page_height: float, cfg: ParserConfig) -> bool:
    if block.bbox[1] < cfg.footnote_top_share * page_height:
        return False
    size = max(ln.size for ln in block.lines)
    return (
        size <= body_size - cfg.footnote_size_delta and footnote_marker(block.lines[0], body_size) is not None
    )


def split_footnotes(block: TBlock, body_size: float) -> list[str]:
    """One string per footnote in a footnote block: a new one starts at each row opening with a marker."""
    notes: list[str] = []
    for ln in block.lines:
        marker = footnote_marker(ln, body_size)
        if marker is not None:
            rest = ln.text[len(marker) :].strip() if ln.text.startswith(marker) else ln.text
            notes.append(f"{marker} {rest}")
        elif not notes:
            notes.append(ln.text)
        else:
            notes[-1] = _join(notes[-1], ln.text)
    return [_tidy(n) for n in notes]


def _join(a: str, b: str) -> str:
    if a.endswith("-") and b[:1].islower():
        return a[:-1] + b
    return f"{a} {b}"


def _tidy(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def run_in_label(line: Line, cfg: ParserConfig) -> tuple[str, str] | None:
    """Split a row opening with a bold prefix and continuing in regular text: ('Datasets.', 'We use ...')."""
    spans = line.spans
    i = 0
    while i < len(spans) and (spans[i].bold or not spans[i].text.strip()):
        i += 1
    if i == 0 or i == len(spans):
        return None
    label = "".join(s.text for s in spans[:i]).strip()
    rest = "".join(s.text for s in spans[i:]).strip()
    if not label or not rest or len(label.split()) > cfg.run_in_max_words or not label[0].isalnum():
        return None
    if len(label.replace(".", "").strip()) < 2:
        return None
    return label, rest


def find_tables(
    page: pymupdf.Page,
    captions: list[TBlock],
    words: list[tuple],
    cfg: ParserConfig,
) -> list[tuple[Box, str, TBlock | None]]:
    """Tables near 'Table N' captions as (bbox, markdown, caption). Detection that cuts through words or
    yields prose is rejected, so the caller keeps the raw lines instead (numbers matter more than looks)."""
    found: list[tuple[Box, str, TBlock | None]] = []
    strategies = (
        {"horizontal_strategy": "lines", "vertical_strategy": "text"},
        {"strategy": "lines"},
    )
    # Search only around the captions: extracting every character of the page is most of the cost.
    reach = cfg.table_search_reach
    y0 = max(0.0, min(c.bbox[1] for c in captions) - reach)
    y1 = min(page.rect.height, max(c.bbox[3] for c in captions) + reach)
    clip = pymupdf.Rect(0, y0, page.rect.width, y1)
    for kwargs in strategies:
        try:
            tabs = page.find_tables(clip=clip, use_layout=False, **kwargs)
        except Exception:  # pymupdf raises assorted errors on odd drawings; a table is optional
            continue
        for tab in tabs.tables:
            box: Box = tuple(tab.bbox)
            if tab.header is not None and tab.header.external and tab.header.bbox:
                box = _union2(box, tuple(tab.header.bbox))
            if tab.row_count < cfg.table_min_rows or tab.col_count < cfg.table_min_cols:
                continue
            if any(_overlaps(box, f[0]) for f in found):
                continue
            caption = nearest_caption(box, captions, cfg)
            cells_boxes = [tuple(c) for c in tab.cells if c] + [box]
            if caption is None or any(_cuts_words(c, words) for c in cells_boxes):
                continue
            try:
                cells = [c for row in tab.extract() for c in row if c]
                markdown = tab.to_markdown(clean=False)
            except Exception:  # a table whose cells cannot be read is no table
                continue
            if not cells or sum(len(c) for c in cells) / len(cells) > cfg.table_max_cell_chars:
                continue
            found.append((box, markdown.strip(), caption))
        if found:
            break
    return found


def _union2(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _overlaps(a: Box, b: Box) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def nearest_caption(box: Box, captions: list[TBlock], cfg: ParserConfig) -> TBlock | None:
    best: tuple[float, TBlock] | None = None
    for cap in captions:
        cb = cap.bbox
        if _overlaps(box, cb) and inside(cb, box):
            return None  # the caption lies inside the 'table': detection swallowed body text
        gap = cb[1] - box[3] if cb[1] >= box[3] - 2 else box[1] - cb[3]
        if gap < -2 or gap > cfg.table_caption_gap:
            continue
        if min(box[2], cb[2]) <= max(box[0], cb[0]):
            continue  # side by side in different columns
        if best is None or gap < best[0]:
            best = (gap, cap)
    return best[1] if best else None


def _cuts_words(box: Box, words: list[tuple]) -> bool:
    """True when a word straddles a vertical border of the box: the detected grid would split its text."""
    x0, y0, x1, y1 = box
    for w in words:
        wx0, wy0, wx1, wy1 = w[:4]
        cy = (wy0 + wy1) / 2
        if not (y0 < cy < y1):
            continue
        if (wx0 < x0 - 1 and wx1 > x0 + 1) or (wx0 < x1 - 1 and wx1 > x1 + 1):
            return True
    return False


def split_references(lines: list[Line], page_mids: dict[int, float]) -> list[str]:
    """Split the reference list into entries: by '[n]' or 'n.' markers, else by hanging indents."""
    if not lines:
        return []
    texts = [ln.text for ln in lines]
    starts: list[bool]
    if sum(bool(REF_BRACKET.match(t)) for t in texts) >= max(2, len(texts) // 6):
        starts = [bool(REF_BRACKET.match(t)) for t in texts]
    elif sum(bool(REF_NUMBER.match(t)) for t in texts) >= max(2, len(texts) // 6):
        starts = [bool(REF_NUMBER.match(t)) for t in texts]
    else:
        # Hanging indent: entry starts at the column's left edge, continuations are indented.
        lefts: dict[tuple[int, bool], float] = {}
        for ln in lines:
            key = (ln.page, ln.bbox[0] > page_mids.get(ln.page, 1e9))
            lefts[key] = min(lefts.get(key, 1e9), ln.bbox[0])
        starts = []
        for ln in lines:
            key = (ln.page, ln.bbox[0] > page_mids.get(ln.page, 1e9))
            starts.append(ln.bbox[0] < lefts[key] + 3.0)
        if all(starts):
            starts = [True] * len(lines)  # no indents: one entry per row is the best we can do
    entries: list[str] = []
    for t, s in zip(texts, starts, strict=True):
        if s or not entries:
            entries.append(t)
        else:
            entries[-1] = _join(entries[-1], t)
    return [_tidy(e) for e in entries if e.strip()]
