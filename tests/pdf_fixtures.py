"""Synthetic PDFs for the parser tests, drawn with pymupdf so the ground truth is known by construction."""

from __future__ import annotations

from pathlib import Path

import pymupdf

W, H = 612.0, 792.0
LEFT = (54.0, 297.0)
RIGHT = (315.0, 558.0)
LINE = 12.0
RUNNING_HEADER = "Under review at the Synthetic Workshop on Parsing"
STAMP = "arXiv:2611.00001v1 [cs.LG] 25 Nov 2026"
TITLE = "A Synthetic Study of Parsing Scientific Papers"
AUTHORS = ["Ada Lovelace", "Alan Turing", "Grace Hopper"]

FILLER = (
    "We describe the parser in enough detail that another team could build it again from this text "
    "alone, including the thresholds and the reasons behind each of them."
)


class Column:
    """Writes text top-down inside one column, wrapping by measured width."""

    def __init__(self, page: pymupdf.Page, x: tuple[float, float], y: float) -> None:
        self.page, self.x0, self.x1, self.y = page, x[0], x[1], y

    def line(self, text: str, font: str = "helv", size: float = 10.0, x: float | None = None) -> None:
        self.y += LINE if size <= 10.5 else size + 4
        self.page.insert_text((self.x0 if x is None else x, self.y), text, fontname=font, fontsize=size)

    def para(self, text: str, font: str = "helv", size: float = 10.0) -> None:
        words = text.split()
        row: list[str] = []
        for w in words:
            trial = " ".join([*row, w])
            if row and pymupdf.get_text_length(trial, fontname=font, fontsize=size) > self.x1 - self.x0:
                self.line(" ".join(row), font, size)
                row = [w]
            else:
                row.append(w)
        if row:
            self.line(" ".join(row), font, size)
        self.gap(6)

    def heading(self, text: str, size: float = 12.0, font: str = "hebo") -> None:
        self.gap(6)
        self.line(text, font, size)
        self.gap(4)

    def gap(self, h: float) -> None:
        self.y += h

    def run_in(self, label: str, text: str) -> None:
        """A bold label followed by regular text on the same baseline, then wrapped text."""
        self.y += LINE
        self.page.insert_text((self.x0, self.y), label, fontname="hebo", fontsize=10)
        lw = pymupdf.get_text_length(label + " ", fontname="hebo", fontsize=10)
        words = text.split()
        first: list[str] = []
        while (
            words
            and pymupdf.get_text_length(" ".join([*first, words[0]]), fontsize=10) < self.x1 - self.x0 - lw
        ):
            first.append(words.pop(0))
        self.page.insert_text((self.x0 + lw, self.y), " ".join(first), fontname="helv", fontsize=10)
        if words:
            self.para(" ".join(words))

    def equation(self, text: str, label: str) -> None:
        self.gap(6)
        self.y += LINE
        width = pymupdf.get_text_length(text, fontname="Symbol", fontsize=10)
        cx = (self.x0 + self.x1) / 2
        self.page.insert_text((cx - width / 2, self.y), text, fontname="Symbol", fontsize=10)
        lw = pymupdf.get_text_length(label, fontname="helv", fontsize=10)
        self.page.insert_text((self.x1 - lw, self.y), label, fontname="helv", fontsize=10)
        self.gap(8)


def _chrome(page: pymupdf.Page, number: int, first_line_no: int) -> int:
    """Running header, page-number footer and review line numbers in both margins."""
    w = pymupdf.get_text_length(RUNNING_HEADER, fontsize=8)
    page.insert_text(((W - w) / 2, 36), RUNNING_HEADER, fontname="helv", fontsize=8)
    page.insert_text((W / 2 - 3, 770), str(number), fontname="helv", fontsize=9)
    n = first_line_no
    y = 90.0
    while y < 730:
        label = str(n)
        lw = pymupdf.get_text_length(label, fontsize=7)
        page.insert_text((46 - lw, y), label, fontname="helv", fontsize=7)  # right-aligned, left margin
        page.insert_text((568, y), label, fontname="helv", fontsize=7)
        n += 1
        y += LINE
    return n


def two_column_paper(path: Path) -> Path:
    """Three 2-column pages with everything PARSING.md asks the parser to handle."""
    doc = pymupdf.open()
    line_no = 1
    # ---- page 1 -------------------------------------------------------------------------------
    page = doc.new_page(width=W, height=H)
    line_no = _chrome(page, 1, line_no)
    page.insert_text((24, 560), STAMP, fontname="Times-Roman", fontsize=16, rotate=90)
    tw = pymupdf.get_text_length(TITLE, fontname="hebo", fontsize=18)
    page.insert_text(((W - tw) / 2, 80), TITLE, fontname="hebo", fontsize=18)
    authors = ", ".join(AUTHORS[:-1]) + " and " + AUTHORS[-1]
    aw = pymupdf.get_text_length(authors, fontsize=11)
    page.insert_text(((W - aw) / 2, 104), authors, fontname="helv", fontsize=11)
    aff = "University of Synthetic Data"
    page.insert_text(
        ((W - pymupdf.get_text_length(aff, fontsize=10)) / 2, 118), aff, fontname="helv", fontsize=10
    )

    left = Column(page, LEFT, 140)
    left.heading("Abstract")
    left.para(
        "We present a parser that turns papers into structured text for planning code. It keeps headings, "
        "equations, captions and tables, and it runs in milliseconds per page without any model weights."
    )
    left.heading("1 Introduction")
    # Hyphenated line ends inside one paragraph: the parser must join them.
    for row in (
        "Parsing papers is hard because the trans-",
        "former era produced many layouts. Our com-",
        "ponents are simple heuristics over spans of",
        "text that any engineer can read and tune.",
    ):
        left.line(row)
    left.y += LINE
    page.insert_text((LEFT[0], left.y), "All code is released with this paper.", fontname="helv", fontsize=10)
    mark_x = LEFT[0] + pymupdf.get_text_length("All code is released with this paper.", fontsize=10)
    page.insert_text((mark_x + 1, left.y - 4), "1", fontname="helv", fontsize=6)
    left.gap(6)
    left.para(FILLER)
    left.para(FILLER)
    # Footnote at the bottom of the left column.
    page.insert_text((LEFT[0], 708), "1", fontname="helv", fontsize=6)
    page.insert_text(
        (LEFT[0] + 5, 712), "Code and data are available at example.org.", fontname="helv", fontsize=8
    )

    right = Column(page, RIGHT, 140)
    right.heading("2 Method")
    right.para(
        "Our method reads the spans of each page and groups them into rows, blocks and sections. " + FILLER
    )
    right.heading("2.1 Attention Layer", size=10)
    right.para("The attention layer mixes the values with weights computed from queries and keys as follows.")
    right.equation("y = s(q k) v + b", "(1)")
    right.para("Here s is the softmax function and b is a learned bias. " + FILLER)
    right.heading("2.2 Training Setup", size=10)
    right.run_in(
        "Datasets.", "We train on one thousand synthetic pages and test on two hundred more. " + FILLER
    )

    # ---- page 2 -------------------------------------------------------------------------------
    page = doc.new_page(width=W, height=H)
    line_no = _chrome(page, 2, line_no)
    cap = "Table 1: Accuracy of the parsers on the synthetic benchmark."
    page.insert_text(
        ((W - pymupdf.get_text_length(cap, fontsize=10)) / 2, 70), cap, fontname="helv", fontsize=10
    )
    rows = [["Model", "Accuracy", "F1"], ["Baseline", "71.2", "0.65"], ["Ours", "84.5", "0.79"]]
    xs = [180.0, 300.0, 380.0, 440.0]
    y = 80.0
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            page.insert_text((xs[c] + 4, y + 14), cell, fontname="hebo" if r == 0 else "helv", fontsize=10)
        y += 20
    for i in range(len(rows) + 1):
        page.draw_line((xs[0], 80 + 20 * i), (xs[-1], 80 + 20 * i), width=0.6)
    for x in xs:
        page.draw_line((x, 80), (x, 80 + 20 * len(rows)), width=0.6)

    left = Column(page, LEFT, 165)
    left.heading("3 Experiments")
    left.para("We compare our parser with two baselines on the synthetic benchmark. " + FILLER)
    left.gap(4)
    page.draw_rect(
        pymupdf.Rect(LEFT[0] + 20, left.y, LEFT[1] - 20, left.y + 90), color=(0, 0, 0), fill=(0.8, 0.8, 0.8)
    )
    left.gap(92)
    left.line("Figure 1: Overview of the synthetic pipeline.")
    left.gap(8)
    left.para(FILLER)
    left.para(FILLER)

    right = Column(page, RIGHT, 165)
    right.heading("3.1 Results", size=10)
    right.para(
        "Table 1 shows that our parser beats the baseline by a wide margin on every measure. " + FILLER
    )
    right.heading("4 Conclusion")
    right.para(
        "Simple heuristics over spans recover the structure of most machine learning papers. " + FILLER
    )
    right.para(FILLER)

    # ---- page 3 -------------------------------------------------------------------------------
    page = doc.new_page(width=W, height=H)
    _chrome(page, 3, line_no)
    left = Column(page, LEFT, 60)
    left.heading("References")
    refs = [
        "[1] Ada Lovelace and Charles Babbage. Notes on the analytical engine. Scientific Memoirs, 1843.",
        "[2] Alan Turing. On computable numbers, with an application to the Entscheidungsproblem. "
        "Proceedings of the London Mathematical Society, 1936.",
        "[3] Grace Hopper. The education of a computer. In Proceedings of the ACM Conference, 1952.",
    ]
    for ref in refs:
        words = ref.split()
        first = True
        row: list[str] = []
        for w in words:
            trial = " ".join([*row, w])
            width = LEFT[1] - LEFT[0] - (0 if first else 12)
            if row and pymupdf.get_text_length(trial, fontsize=10) > width:
                left.line(" ".join(row), x=LEFT[0] if first else LEFT[0] + 12)
                row, first = [w], False
            else:
                row.append(w)
        left.line(" ".join(row), x=LEFT[0] if first else LEFT[0] + 12)
        left.gap(4)
    right = Column(page, RIGHT, 60)
    right.heading("A Proofs")
    right.para("This appendix proves that the parser terminates on every page. " + FILLER)
    right.para(FILLER)
    doc.save(path)
    return path


def one_column_paper(path: Path, toc: bool = False) -> Path:
    """A single-column Times paper; with toc=True it gets an outline and one heading set in plain type."""
    doc = pymupdf.open()
    page = doc.new_page(width=W, height=H)
    col = Column(page, (72.0, 540.0), 60)
    title = "Learning to Parse Without Labels"
    page.insert_text(
        ((W - pymupdf.get_text_length(title, fontname="tibo", fontsize=17)) / 2, 90),
        title,
        fontname="tibo",
        fontsize=17,
    )
    name = "Jane Doe"
    page.insert_text(
        ((W - pymupdf.get_text_length(name, fontname="tiro", fontsize=11)) / 2, 118),
        name,
        fontname="tiro",
        fontsize=11,
    )
    col.y = 140
    aw = pymupdf.get_text_length("Abstract", fontname="tibo", fontsize=12)
    col.line("Abstract", font="tibo", size=12, x=(W - aw) / 2)
    col.gap(4)
    col.para("We learn to parse documents without labels. " + FILLER, font="tiro", size=11)
    col.heading("1 Introduction", size=12, font="tibo")
    col.para("Documents are everywhere and most of them are PDF files. " + FILLER, font="tiro", size=11)
    col.heading("1.1 Motivation", size=11, font="tibo")
    col.para("Labels are expensive, so we avoid them. " + FILLER, font="tiro", size=11)
    col.heading("2 Related Work", size=12, font="tibo")
    col.para("Prior systems train layout models on labelled pages. " + FILLER, font="tiro", size=11)
    col.heading("2.1 Rule-based Parsers", size=11, font="tibo")
    col.para("Rules are fast and transparent. " + FILLER, font="tiro", size=11)
    # With an outline, this heading is set in plain type: only the outline can find it.
    col.heading(
        "2.2 Learned Parsers" if toc else "2.2 Learned Parsers", size=11, font="tiro" if toc else "tibo"
    )
    col.para("Learned parsers need data. " + FILLER, font="tiro", size=11)
    page = doc.new_page(width=W, height=H)
    col = Column(page, (72.0, 540.0), 60)
    col.heading("3 Conclusion", size=12, font="tibo")
    col.para("Parsing without labels works well enough for planning. " + FILLER, font="tiro", size=11)
    col.heading("Acknowledgments", size=12, font="tibo")
    col.para("We thank the anonymous reviewers for their comments.", font="tiro", size=11)
    col.heading("References", size=12, font="tibo")
    col.para("Doe, J. Parsing things. Journal of Parsing, 2020.", font="tiro", size=11)
    col.para("Roe, R. Parsing more things. Journal of Parsing, 2021.", font="tiro", size=11)
    if toc:
        doc.set_toc(
            [
                [1, "Introduction", 1],
                [2, "Motivation", 1],
                [1, "Related Work", 1],
                [2, "Rule-based Parsers", 1],
                [2, "Learned Parsers", 1],
                [1, "Conclusion", 2],
            ]
        )
    doc.save(path)
    return path


def encrypted_pdf(path: Path) -> Path:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "secret text", fontsize=11)
    doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="user", owner_pw="owner")
    return path


def corrupt_pdf(path: Path) -> Path:
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 4 + b"\nthis is not a pdf body\n")
    return path


def blank_pdf(path: Path) -> Path:
    doc = pymupdf.open()
    doc.new_page()
    doc.save(path)
    return path


def image_only_pdf(path: Path) -> Path:
    doc = pymupdf.open()
    page = doc.new_page()
    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 60, 80), False)
    pix.clear_with(200)
    page.insert_image(pymupdf.Rect(72, 72, 540, 720), pixmap=pix)
    doc.save(path)
    return path


def zero_page_pdf(path: Path) -> Path:
    """A syntactically valid PDF whose page tree is empty (pymupdf will not save one itself)."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [] /Count 0 >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    path.write_bytes(bytes(out))
    return path


# ---- a conference-style paper: booktabs table, vector figure with axis text, a fraction --------------

BOOKTABS_ROWS = [
    ["Method", "Accuracy", "Time (s)"],
    ["Uniform", "88.63", "1.25"],
    ["EL2N", "89.82", "3.40"],
    ["Moderate", "89.94", "2.75"],
]
AXIS_TEXT = ["0.24", "0.20", "0.16", "0.12", "Layer 0", "Layer 2", "Epoch"]
VENUE_NOTE = "Proceedings of the 43rd International Conference on Machine Learning. Copyright 2026."
CUT_PARAGRAPH = ("Both layers reach the same loss, which", "suggests that depth matters less than width.")


def _booktabs(page: pymupdf.Page, x0: float, y: float) -> float:
    """Three horizontal rules (top, under the header, bottom) and no vertical ones; returns the end y."""
    xs = [x0, x0 + 80.0, x0 + 150.0]
    width = 215.0
    page.draw_line((x0 - 4, y), (x0 - 4 + width, y), width=0.8)
    for r, row in enumerate(BOOKTABS_ROWS):
        y += 14.0
        for c, cell in enumerate(row):
            page.insert_text((xs[c], y - 3), cell, fontname="helv", fontsize=9)
        if r == 0:
            page.draw_line((x0 - 4, y + 1), (x0 - 4 + width, y + 1), width=0.5)
            y += 2
    y += 4
    page.draw_line((x0 - 4, y), (x0 - 4 + width, y), width=0.8)
    return y


def _plot(page: pymupdf.Page, x0: float, y0: float, w: float, h: float) -> None:
    """A line chart drawn with vectors: axes, two curves, tick labels, a legend and an axis title."""
    page.draw_line((x0, y0), (x0, y0 + h), width=0.6)
    page.draw_line((x0, y0 + h), (x0 + w, y0 + h), width=0.6)
    for i, label in enumerate(AXIS_TEXT[:4]):
        ty = y0 + 8 + i * (h - 16) / 3
        page.draw_line((x0 - 3, ty), (x0, ty), width=0.4)
        page.insert_text((x0 - 22, ty + 3), label, fontname="helv", fontsize=6)
    for k, shift in enumerate((0.0, 18.0)):
        pts = [
            pymupdf.Point(x0 + 6 * i, y0 + 12 + shift + 10 * ((i * 7) % 5) / 5) for i in range(int(w // 6))
        ]
        page.draw_polyline(pts, color=(0.1 * k, 0.3, 0.8 - 0.4 * k), width=0.8)
    page.insert_text((x0 + w - 48, y0 + 12), AXIS_TEXT[4], fontname="helv", fontsize=6)
    page.insert_text((x0 + w - 48, y0 + 20), AXIS_TEXT[5], fontname="helv", fontsize=6)
    page.insert_text((x0 + w / 2 - 10, y0 + h + 8), AXIS_TEXT[6], fontname="helv", fontsize=6)


def _fraction(page: pymupdf.Page, col: Column) -> None:
    """'L = 1/n l(x, y)  (1)' set as TeX does: 1 over a drawn bar over n, the label at the right."""
    col.gap(10)
    base = col.y + 12
    cx = (col.x0 + col.x1) / 2 - 40
    page.insert_text((cx, base), "L =", fontname="helv", fontsize=10)
    page.insert_text((cx + 24, base - 6), "1", fontname="helv", fontsize=10)
    page.draw_line((cx + 22, base - 3.5), (cx + 31, base - 3.5), width=0.4)
    page.insert_text((cx + 24, base + 8), "n", fontname="helv", fontsize=10)
    page.insert_text((cx + 36, base), "l(x, y)", fontname="helv", fontsize=10)
    page.insert_text((col.x1 - 14, base), "(1)", fontname="helv", fontsize=10)
    col.y = base + 14


def conference_paper(path: Path) -> Path:
    """Two 2-column pages, no outline, with the floats real ICML/NeurIPS papers have."""
    doc = pymupdf.open()
    page = doc.new_page(width=W, height=H)
    tw = pymupdf.get_text_length(TITLE, fontname="hebo", fontsize=16)
    page.insert_text(((W - tw) / 2, 70), TITLE, fontname="hebo", fontsize=16)
    # ICML style: names separated only by small affiliation marks, no commas.
    x = 160.0
    for i, name in enumerate(AUTHORS):
        page.insert_text((x, 92), name, fontsize=10)
        x += pymupdf.get_text_length(name, fontsize=10) + 1
        page.insert_text((x, 88), str(i + 1), fontsize=6)
        x += 12
    page.insert_text((LEFT[0], 700), VENUE_NOTE, fontname="helv", fontsize=8)
    left = Column(page, LEFT, 110)
    left.heading("Abstract")
    left.para("We measure how a parser keeps tables, figures and formulas of a paper apart. " + FILLER)
    left.heading("1 Introduction")
    left.para(
        "Coreset selection picks a small subset of the data that trains as well as all of it. " + FILLER
    )
    left.para("The loss averages the per-example losses over the n examples of the subset:")
    _fraction(page, left)
    left.para("where l is the cross-entropy. " + FILLER)
    right = Column(page, RIGHT, 110)
    right.heading("2 Experiments")
    right.para("Table 1 lists the accuracy of each method at a 70 % subset. " + FILLER)
    right.y += 10
    cap = "Table 1: Accuracy and time of each selection method."
    page.insert_text((RIGHT[0], right.y), cap, fontname="helv", fontsize=9)
    right.y = _booktabs(page, RIGHT[0] + 4, right.y + 6) + 8
    right.para("Our method is the most accurate of the three at a similar cost. " + FILLER)
    # ---- page 2: a vector figure in the left column, text around it --------------------------------
    page = doc.new_page(width=W, height=H)
    left = Column(page, LEFT, 60)
    left.heading("2.1 Learning Curves")
    left.para("Figure 1 shows the training loss of two layers over the epochs. " + FILLER)
    _plot(page, LEFT[0] + 30, left.y + 14, 190, 110)
    left.y += 14 + 110 + 22
    page.insert_text((LEFT[0], left.y), "Figure 1: Training loss per layer.", fontname="helv", fontsize=9)
    left.gap(12)
    left.para("The curves flatten after a few epochs, as the theory predicts. " + FILLER)
    # A paragraph cut by the column break, going on at the top of the right column.
    left.para(CUT_PARAGRAPH[0])
    right = Column(page, RIGHT, 60)
    right.para(CUT_PARAGRAPH[1])
    right.heading("3 Conclusion")
    right.para("Tables and figures stay apart from the prose when the parser reads regions. " + FILLER)
    right.para(FILLER)
    right.heading("A Proofs")
    right.para("The appendix proves the bound used in the text. " + FILLER)
    doc.save(path)
    return path
