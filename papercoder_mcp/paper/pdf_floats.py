"""Tables and display formulas from the layout model's regions (pdf_regions), as the parser's blocks."""

from __future__ import annotations

import pymupdf

from papercoder_mcp.paper.pdf_blocks import CAPTION, nearest_caption
from papercoder_mcp.paper.pdf_config import ParserConfig
from papercoder_mcp.paper.pdf_layout import Box, Line, TBlock, inside
from papercoder_mcp.paper.pdf_regions import (
    FOOTER,
    FORMULA,
    HEADER,
    PICTURE,
    TABLE,
    Region,
    cells_markdown,
    table_cells,
)

WORD_FLAGS = pymupdf.TEXTFLAGS_WORDS & ~pymupdf.TEXT_PRESERVE_LIGATURES


# A figure's own text (ticks, legends, panel titles) is short; a region holding several rows of this
# many words is the model mistaking prose for a figure or formula, and is ignored.
PROSE_WORDS = 9
PROSE_ROWS = 2


def _holds_prose(box: Box, blocks: list[TBlock]) -> bool:
    rows = sum(
        1 for b in blocks for ln in b.lines if inside(ln.bbox, box) and len(ln.text.split()) >= PROSE_WORDS
    )
    return rows >= PROSE_ROWS


def trusted_pictures(regions: list[Region], raw_blocks: list[list[Line]]) -> list[Box]:
    """Picture regions whose text is a figure's, not prose."""
    blocks = [TBlock(lines, 0) for lines in raw_blocks]
    return [r.bbox for r in regions if r.kind == PICTURE and not _holds_prose(r.bbox, blocks)]


def furniture(regions: list[Region], height: float, cfg: ParserConfig) -> list[Box]:
    """Page-header/footer regions inside the page's top or bottom band (running heads, venue footers,
    page numbers); the model's header/footer guesses elsewhere on the page are not trusted."""
    band = cfg.furniture_band_share * height
    return [
        r.bbox
        for r in regions
        if r.kind in (HEADER, FOOTER) and (r.bbox[3] <= band or r.bbox[1] >= height - band)
    ]


def regions_wanted(raw_blocks: list[list[Line]], images: list[Box], page: pymupdf.Page) -> bool:
    """A page holding a float (a caption opens one of its blocks, or it shows an image)."""
    if images:
        return True
    # Any row: pymupdf often puts a caption in one block with the axis title just above it.
    return any(CAPTION.match(ln.text) for lines in raw_blocks for ln in lines)


def layout_tables(
    page: pymupdf.Page,
    regions: list[Region],
    captions: list[TBlock],
    cfg: ParserConfig,
    warnings: list[str],
) -> list[tuple[Box, str, TBlock | None]]:
    """(bbox, markdown, caption) of each table region the model gave a grid with real cells. A region
    that cannot be structured is left to the text flow and named in the warnings."""
    tables = [r for r in regions if r.kind == TABLE]
    if not tables:
        return []
    words = page.get_text("words", flags=WORD_FLAGS)
    found: list[tuple[Box, str, TBlock | None]] = []
    free = list(captions)
    for region in tables:
        where = f"page {page.number + 1}: table at y={region.bbox[1]:.0f}"
        if not region.rows:
            warnings.append(f"{where}: the layout model found no cell grid; kept its text lines")
            continue
        cells = table_cells(region, words)
        ncols = max((len(r) for r in cells), default=0)
        if len(cells) < cfg.table_min_rows or ncols < cfg.table_min_cols:
            warnings.append(
                f"{where}: {len(cells)} row(s) x {ncols} column(s) is no table; kept its text lines"
            )
            continue
        filled = [c for row in cells for c in row if c]
        if sum(len(c) for c in filled) / len(filled) > cfg.table_max_cell_chars:
            warnings.append(f"{where}: its cells read as prose; kept its text lines")
            continue
        caption = nearest_caption(region.bbox, free, cfg)
        if caption is None:
            # Papers caption every table; a 'table' with no 'Table N' beside it is the model misreading
            # prose or a figure, and its text is safer left in the flow.
            continue
        free = [c for c in free if c is not caption]
        found.append((region.bbox, cells_markdown(cells), caption))
    return found


def formula_blocks(blocks: list[TBlock], regions: list[Region], page: int) -> list[TBlock]:
    """Gather the rows inside each formula region into one display-equation block: the model sees the
    formula's extent, which our geometry splits at fraction bars, sums and big delimiters."""
    formulas = [r.bbox for r in regions if r.kind == FORMULA and not _holds_prose(r.bbox, blocks)]
    if not formulas:
        return blocks
    gathered: list[list[Line]] = [[] for _ in formulas]
    out: list[TBlock] = []
    for blk in blocks:
        if blk.lines and CAPTION.match(blk.lines[0].text):
            out.append(blk)
            continue
        keep: list[Line] = []
        for ln in blk.lines:
            hit = next((i for i, f in enumerate(formulas) if inside(ln.bbox, f)), None)
            if hit is None:
                keep.append(ln)
            else:
                gathered[hit].append(ln)
        if keep:
            blk.lines = keep
            out.append(blk)
    for lines in gathered:
        if lines:
            lines.sort(key=lambda ln: (ln.bbox[1], ln.bbox[0]))
            out.append(TBlock(lines, page, extra={"formula": "yes"}))
    return out
