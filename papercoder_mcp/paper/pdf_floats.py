"""Tables and display formulas from the layout model's regions (pdf_regions), as the parser's blocks."""

from __future__ import annotations

import pymupdf

from papercoder_mcp.paper.pdf_blocks import CAPTION, nearest_caption
from papercoder_mcp.paper.pdf_config import ParserConfig
from papercoder_mcp.paper.pdf_layout import Box, Line, TBlock, inside
from papercoder_mcp.paper.pdf_regions import FORMULA, TABLE, Region, cells_markdown, table_cells

WORD_FLAGS = pymupdf.TEXTFLAGS_WORDS & ~pymupdf.TEXT_PRESERVE_LIGATURES


def regions_wanted(raw_blocks: list[list[Line]], images: list[Box], page: pymupdf.Page) -> bool:
    """A page holding a float (a caption opens one of its blocks, or it shows an image)."""
    if images:
        return True
    return any(lines and CAPTION.match(lines[0].text) for lines in raw_blocks)


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
            warnings.append(f"{where}: {len(cells)} row(s) x {ncols} column(s) is no table; kept its text lines")
            continue
        filled = [c for row in cells for c in row if c]
        if sum(len(c) for c in filled) / len(filled) > cfg.table_max_cell_chars:
            warnings.append(f"{where}: its cells read as prose; kept its text lines")
            continue
        caption = nearest_caption(region.bbox, free, cfg)
        if caption is not None:
            free = [c for c in free if c is not caption]
        found.append((region.bbox, cells_markdown(cells), caption))
    return found


def formula_blocks(blocks: list[TBlock], regions: list[Region], page: int) -> list[TBlock]:
    """Gather the rows inside each formula region into one display-equation block: the model sees the
    formula's extent, which our geometry splits at fraction bars, sums and big delimiters."""
    formulas = [r.bbox for r in regions if r.kind == FORMULA]
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
