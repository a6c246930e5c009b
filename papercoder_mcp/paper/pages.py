"""Pages of the original PDF as the model and the agent see them: which pages matter, and their images.

The Markdown carries the text; what it loses in the worst case (a table's grid, a fraction's bar, a
figure) sits on the pages that hold tables, figures and display equations. Those pages are the ones
attached as images for client sampling and named as resources in handoff.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter, OrderedDict

import pymupdf

from papercoder_mcp.errors import PaperParseError
from papercoder_mcp.paper.models import Paper

# Client sampling attaches at most this many page images per request: each is ~1,500 image tokens on
# the client's model, and the pages past the first few tables and figures add little.
MAX_PAGE_IMAGES = 6
# 110 dpi keeps 9-pt table digits legible at about 900x1200 pixels per US-letter page (100-250 KB).
PAGE_DPI = 110
_CACHE_SIZE = 24


_BACK_MATTER = re.compile(r"^(references|bibliography|appendix|appendices|supplementary)\b", re.IGNORECASE)


def body_end(paper: Paper) -> int | None:
    """The page where the references or the appendix begin (None when the paper has no such heading)."""
    for section in paper.sections:
        lettered = bool(re.match(r"^[A-Z](\.\d+)*$", section.number))
        if section.page and (lettered or _BACK_MATTER.match(section.title.strip())):
            return section.page
    return None


def visual_pages(paper: Paper, limit: int = MAX_PAGE_IMAGES) -> list[int]:
    """1-based pages holding tables, figures and display equations: the body's first (the method's
    equations and the results live there; an appendix of proofs can hold more equations than any page
    of the method), most such items first, then in order."""
    counts: Counter[int] = Counter()
    for table in paper.tables:
        if table.page:
            counts[table.page] += 2  # a table is what the Markdown is likeliest to garble
    for cap in paper.captions:
        if cap.page:
            counts[cap.page] += 2 if cap.kind == "table" else 1
    for eq in paper.equations:
        if eq.page:
            counts[eq.page] += 1
    if paper.page_count:
        counts = Counter({p: n for p, n in counts.items() if 1 <= p <= paper.page_count})
    end = body_end(paper)
    ranked = sorted(counts, key=lambda p: (end is not None and p > end, -counts[p], p))[: max(0, limit)]
    return sorted(ranked)


_CAPTION_LINE = re.compile(r"^\s*(Figure|Fig\.|Table|Algorithm)\s+[A-Z]?\d+[.:]", re.MULTILINE)


def caption_pages(pdf: bytes, limit: int = MAX_PAGE_IMAGES) -> list[int]:
    """Pages whose text has figure or table captions (a line starting "Figure 3:"), most captions first.

    For a PDF that was not what the paper was parsed from (the typeset PDF beside an arXiv LaTeX source),
    where the parsed paper has no page numbers. Plain text extraction: milliseconds a page."""
    counts: Counter[int] = Counter()
    try:
        with pymupdf.open(stream=pdf, filetype="pdf") as doc:
            for number, page in enumerate(doc, start=1):
                found = len(_CAPTION_LINE.findall(page.get_text()))
                if found:
                    counts[number] = found
    except (RuntimeError, ValueError):
        return []
    ranked = sorted(counts, key=lambda p: (-counts[p], p))[: max(0, limit)]
    return sorted(ranked)


def page_count(pdf: bytes) -> int:
    try:
        with pymupdf.open(stream=pdf, filetype="pdf") as doc:
            return int(doc.page_count)
    except (RuntimeError, ValueError) as exc:
        raise PaperParseError(f"the PDF cannot be opened: {exc}") from exc


class _PngCache:
    """Rendered pages by (PDF hash, page): a handoff agent and a sampling round ask for the same pages."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, int]) -> bytes | None:
        with self._lock:
            png = self._items.get(key)
            if png is not None:
                self._items.move_to_end(key)
            return png

    def put(self, key: tuple[str, int, int], png: bytes) -> None:
        with self._lock:
            self._items[key] = png
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


_cache = _PngCache(_CACHE_SIZE)


def render_page_png(pdf: bytes, page: int, dpi: int = PAGE_DPI, sha256: str | None = None) -> bytes:
    """Page `page` (1-based) of the PDF as PNG bytes. CPU-bound: call it off the event loop."""
    digest = sha256 or hashlib.sha256(pdf).hexdigest()
    key = (digest, page, dpi)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    try:
        doc = pymupdf.open(stream=pdf, filetype="pdf")
    except (RuntimeError, ValueError) as exc:
        raise PaperParseError(f"the stored PDF cannot be opened: {exc}") from exc
    with doc:
        if not 1 <= page <= doc.page_count:
            raise PaperParseError(f"the paper has pages 1-{doc.page_count}; there is no page {page}")
        png = doc[page - 1].get_pixmap(dpi=dpi).tobytes("png")
    _cache.put(key, png)
    return png
