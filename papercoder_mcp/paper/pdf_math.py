"""Display formulas as linear text: fractions from their drawn bars, limits of big operators.

pymupdf returns a formula's glyphs left to right, so 1/n followed by a sum with limits reads
'1 n ∑ i=1 n'. The fraction bar is a drawn line: every glyph over it is the numerator, every glyph
under it the denominator, which gives '(1)/(n) ∑_{i=1}^{n}'. Glyph text is kept as drawn; this never
guesses LaTeX.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pymupdf

from papercoder_mcp.paper.pdf_layout import Box, Line

BIG_OPERATORS = set("∑∏∫∮⋃⋂⨁⨂∐")
# A fraction bar: a horizontal stroke, thin, at least a glyph wide.
BAR_MAX_THICKNESS = 1.5
BAR_MIN_WIDTH = 3.0


@dataclass(slots=True)
class _Atom:
    text: str
    bbox: Box
    size: float
    origin_y: float

    @property
    def cx(self) -> float:
        return (self.bbox[0] + self.bbox[2]) / 2

    @property
    def cy(self) -> float:
        if self.text.endswith("√"):
            # The radical sign rises above its radicand: its foot says where it stands.
            return self.bbox[3] - 0.25 * self.size
        return (self.bbox[1] + self.bbox[3]) / 2


def fraction_bars(page: pymupdf.Page, within: list[Box]) -> list[Box]:
    """Horizontal strokes on the page that lie inside one of the `within` boxes (display formulas)."""
    if not within:
        return []
    bars: list[Box] = []
    for path in page.get_drawings():
        r = path["rect"]
        if r.height > BAR_MAX_THICKNESS or r.width < BAR_MIN_WIDTH:
            continue
        box: Box = (r.x0, r.y0, r.x1, r.y1)
        if any(b[0] - 2 <= box[0] and box[2] <= b[2] + 2 and b[1] <= box[1] <= b[3] for b in within):
            bars.append(box)
    return bars


def _atoms(lines: list[Line]) -> list[_Atom]:
    out: list[_Atom] = []
    for ln in lines:
        for s in ln.spans:
            if s.text.strip():
                out.append(_Atom(s.text.strip(), s.bbox, s.size, s.origin_y))
    return out


def _group(text_parts: list[str]) -> str:
    t = " ".join(text_parts).strip()
    return t if re.fullmatch(r"[\w.′']+", t) else f"({t})"


def _linear(atoms: list[_Atom], body_size: float) -> str:
    """Atoms of one level, left to right; smaller glyphs above/below the main baseline as ^{} and _{}."""
    if not atoms:
        return ""
    atoms = sorted(atoms, key=lambda a: a.bbox[0])
    main = max(atoms, key=lambda a: (a.size, len(a.text)))
    out: list[str] = []
    prev: _Atom | None = None
    for a in atoms:
        text = a.text
        if a.size < main.size - 0.5 and a.text not in BIG_OPERATORS:
            if a.origin_y > main.origin_y + 0.8:
                text = f"_{{{text}}}"
            elif a.origin_y < main.origin_y - 0.8:
                text = f"^{{{text}}}"
        gap = a.bbox[0] - prev.bbox[2] if prev is not None else 0.0
        if out and gap > 0.15 * main.size and not text.startswith(("_{", "^{")):
            out.append(" ")
        out.append(text)
        prev = a
    return "".join(out).strip()


def rebuild_row(lines: list[Line], bars: list[Box], body_size: float) -> str | None:
    """One row of a display formula with its fractions and operator limits placed, or None when the row
    has neither (the caller keeps its plain reading)."""
    atoms = _atoms(lines)
    if not atoms:
        return None
    top = min(a.bbox[1] for a in atoms)
    bottom = max(a.bbox[3] for a in atoms)
    row_bars = sorted(
        (b for b in bars if top <= b[1] <= bottom), key=lambda b: b[2] - b[0]
    )  # inner (narrower) fractions first, so nested ones resolve inside out
    # A radical's vinculum is a bar too, starting where its √ glyph ends: not a fraction.
    radicals = [a for a in atoms if a.text.endswith("√")]
    row_bars = [b for b in row_bars if not any(abs(r.bbox[2] - b[0]) < 2.5 for r in radicals)]
    ops = [a for a in atoms if a.text in BIG_OPERATORS]
    if not row_bars and not ops:
        return None
    placed: list[_Atom] = []
    rest = list(atoms)
    for bar in row_bars:
        y = bar[1]
        over = [
            a for a in rest if bar[0] - 1 <= a.cx <= bar[2] + 1 and a.cy < y and y - a.bbox[3] < 2 * a.size
        ]
        under = [
            a for a in rest if bar[0] - 1 <= a.cx <= bar[2] + 1 and a.cy > y and a.bbox[1] - y < 2 * a.size
        ]
        if not over or not under:
            continue
        used = {id(a) for a in over + under}
        rest = [a for a in rest if id(a) not in used]
        num = _group([_linear(over, body_size)])
        den = _group([_linear(under, body_size)])
        size = max(a.size for a in over + under)
        baseline = max(a.origin_y for a in over)
        placed.append(_Atom(f"{num}/{den}", (bar[0], y - size / 2, bar[2], y + size / 2), size, baseline))
    for op in [a for a in rest if a.text in BIG_OPERATORS]:
        if op not in rest:
            continue
        x0, x1 = op.bbox[0] - 2, op.bbox[2] + 2
        above = [a for a in rest if a is not op and x0 <= a.cx <= x1 and a.bbox[3] <= op.bbox[1] + 2]
        below = [a for a in rest if a is not op and x0 <= a.cx <= x1 and a.bbox[1] >= op.bbox[3] - 2]
        if not above and not below:
            continue
        used = {id(a) for a in above + below}
        rest = [a for a in rest if id(a) not in used and a is not op]
        text = op.text
        if below:
            text += f"_{{{_linear(below, body_size)}}}"
        if above:
            text += f"^{{{_linear(above, body_size)}}}"
        placed.append(_Atom(text, op.bbox, body_size, op.origin_y))
    if not placed:
        return None
    # Placed groups sit on the row's main baseline, so they are not taken for sub/superscripts.
    main = max(rest, key=lambda a: (a.size, len(a.text))) if rest else None
    for p in placed:
        p.size = main.size if main else p.size
        p.origin_y = main.origin_y if main else p.origin_y
    return _linear(rest + placed, body_size)
