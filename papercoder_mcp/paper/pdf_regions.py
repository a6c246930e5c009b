"""Page regions from pymupdf-layout (the vendor's layout model, shipped in its wheel, run offline).

The model labels each region of a page (text, section-header, table, picture, formula, caption,
page-header, page-footer, ...) and predicts a row/column grid for each table. The parser keeps its own
reading of text, headings and sections (pdf.py) and takes from the model what geometry alone cannot
see: where a booktabs table's cells are, which text belongs to a figure (axis ticks, legends) and where
a display formula starts and ends. `bench/parse.py` measures this choice against both alternatives.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pymupdf

from papercoder_mcp.paper.pdf_layout import Box, inside, scrub

# Region classes we act on; the model has more (text, list-item, footnote, title, ...), which the
# parser's own classification already handles.
TABLE, PICTURE, FORMULA, HEADER, FOOTER = "table", "picture", "formula", "page-header", "page-footer"

# The model's inference keeps process-global state (pymupdf4llm serialises it the same way); the MCP
# server parses in worker threads.
_LOCK = threading.Lock()


@dataclass(slots=True)
class Region:
    kind: str
    bbox: Box
    rows: list[float] = field(default_factory=list)  # absolute y of the table's row borders, top to bottom
    cols: list[float] = field(default_factory=list)  # absolute x of its column borders, left to right


def layout_available() -> bool:
    try:
        import pymupdf.layout  # noqa: F401
    except ImportError:
        return False
    return True


def page_regions(page: pymupdf.Page) -> list[Region]:
    """The layout model's regions of one page. Raises ImportError without pymupdf-layout."""
    import pymupdf.layout  # noqa: F401  (importing it registers the model with pymupdf)

    with _LOCK:
        page.get_layout(return_raw=True)
        raw: list[dict[str, Any]] = list(page.layout_information or [])
        page.layout_information = None  # find_tables() would otherwise reuse it
    out: list[Region] = []
    for item in raw:
        x0, y0, x1, y1 = (float(v) for v in item["group_bbox"])
        if x1 - x0 <= 2 or y1 - y0 <= 2:
            continue
        region = Region(str(item["class_name"]), (x0, y0, x1, y1))
        grid = item.get("table_grid")
        if region.kind == TABLE and grid is not None:
            region.rows = [y0, *(y0 + float(h) for h in grid.h_lines), y1]
            region.cols = [x0, *(x0 + float(v) for v in grid.v_lines), x1]
        out.append(region)
    return out


def table_cells(region: Region, words: list[tuple]) -> list[list[str]]:
    """The text of each grid cell: words are placed by their centre, in reading order within a cell."""
    nrows, ncols = len(region.rows) - 1, len(region.cols) - 1
    if nrows < 1 or ncols < 1:
        return []
    cells: list[list[list[tuple]]] = [[[] for _ in range(ncols)] for _ in range(nrows)]
    for w in words:
        if not inside(tuple(w[:4]), region.bbox, slack=0.5):
            continue
        cx, cy = (w[0] + w[2]) / 2, (w[1] + w[3]) / 2
        r = _slot(region.rows, cy)
        c = _slot(region.cols, cx)
        if r is not None and c is not None:
            cells[r][c].append(w)
    out: list[list[str]] = []
    for row in cells:
        texts = []
        for cell in row:
            cell.sort(key=lambda w: (round(w[1] / 3), w[0]))
            texts.append(scrub(" ".join(str(w[4]) for w in cell)).strip())
        if any(texts):
            out.append(texts)
    # Drop columns the grid cut where no text is: they are gaps, not cells.
    keep = [j for j in range(ncols) if any(row[j] for row in out)]
    return [[row[j] for j in keep] for row in out]


def _slot(borders: list[float], x: float) -> int | None:
    for i in range(len(borders) - 1):
        if borders[i] - 0.5 <= x <= borders[i + 1] + 0.5:
            return i
    return None


def cells_markdown(rows: list[list[str]]) -> str:
    """A Markdown table, one cell per cell; the first row is the header, as in a typeset table."""
    if not rows:
        return ""

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    ncols = max(len(r) for r in rows)
    rows = [r + [""] * (ncols - len(r)) for r in rows]
    return "\n".join([line(rows[0]), "|" + "---|" * ncols, *(line(r) for r in rows[1:])])
