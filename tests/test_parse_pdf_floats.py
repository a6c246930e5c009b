"""Tables, figures and formulas of a conference-style PDF (two columns, no outline), generated here."""

from __future__ import annotations

from pathlib import Path

import pytest

from papercoder_mcp.paper.models import Paper
from papercoder_mcp.paper.pdf import ParserConfig, parse_pdf
from papercoder_mcp.paper.pdf_layout import scrub, tex_glyphs
from papercoder_mcp.paper.pdf_metrics import control_chars, fact_kept, markdown_table_rows

from pdf_fixtures import AUTHORS, AXIS_TEXT, BOOKTABS_ROWS, CUT_PARAGRAPH, VENUE_NOTE, conference_paper


@pytest.fixture(scope="module")
def pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return conference_paper(tmp_path_factory.mktemp("pdf") / "conference.pdf")


@pytest.fixture(scope="module")
def paper(pdf: Path) -> Paper:
    return parse_pdf(pdf)


def _prose(paper: Paper) -> str:
    return "\n".join(
        b.text for s in paper.all_sections() for b in s.blocks if b.kind in ("paragraph", "label")
    )


class TestBooktabsTable:
    def test_one_cell_per_cell(self, paper: Paper) -> None:
        assert [t.number for t in paper.tables] == ["1"]
        assert markdown_table_rows(paper.tables[0].markdown) == BOOKTABS_ROWS

    def test_table_follows_its_caption_in_the_section(self, paper: Paper) -> None:
        experiments = next(s for s in paper.all_sections() if s.number == "2")
        kinds = [b.kind for b in experiments.blocks]
        assert kinds[kinds.index("caption") + 1] == "table"
        assert paper.tables[0].caption.startswith("Table 1: Accuracy and time")

    def test_cells_are_not_left_in_the_prose(self, paper: Paper) -> None:
        assert "88.63" not in _prose(paper)

    def test_geometry_alone_cannot_read_it_and_says_where(self, pdf: Path) -> None:
        heuristic = parse_pdf(pdf, ParserConfig(engine="heuristic"))
        assert not heuristic.tables
        assert any(w.startswith("page 1: no table grid found for 'Table 1") for w in heuristic.warnings)


class TestFigure:
    def test_axis_ticks_and_legend_are_not_body_text(self, paper: Paper) -> None:
        md = paper.to_markdown()
        for text in AXIS_TEXT:
            assert text not in md, text

    def test_caption_is_kept(self, paper: Paper) -> None:
        assert [(c.kind, c.number, c.text) for c in paper.captions if c.kind == "figure"] == [
            ("figure", "1", "Figure 1: Training loss per layer.")
        ]


class TestFraction:
    def test_display_fraction_is_one_block_numerator_over_denominator(self, paper: Paper) -> None:
        assert [(e.text, e.label, e.page) for e in paper.equations] == [("L = 1/n l(x, y)", "(1)", 1)]
        intro = next(s for s in paper.all_sections() if s.number == "1")
        assert [b.kind for b in intro.blocks].count("equation") == 1


class TestText:
    def test_no_outline_headings_and_authors(self, paper: Paper) -> None:
        assert paper.outline() == [
            "1 Introduction",
            "2 Experiments",
            "  2.1 Learning Curves",
            "3 Conclusion",
            "A Proofs",
        ]
        assert paper.authors == AUTHORS

    def test_venue_note_of_page_one_is_not_paper_text(self, paper: Paper) -> None:
        assert VENUE_NOTE.split(".")[0] not in paper.to_markdown()

    def test_paragraph_cut_by_the_column_break_is_joined(self, paper: Paper) -> None:
        assert " ".join(CUT_PARAGRAPH) in _prose(paper)

    def test_no_control_or_private_use_characters(self, paper: Paper) -> None:
        assert control_chars(paper.to_markdown()) == 0
        assert not paper.warnings


class TestGlyphs:
    def test_tex_extension_font_slots_become_the_symbols_drawn(self) -> None:
        # cmex without a Unicode map: a display sum is slot 'X', big parentheses are NUL and 0x01.
        assert tex_glyphs("X", "CMEX10") == "∑"
        assert tex_glyphs("\x00a+b\x01", "CMEX10")[0] + tex_glyphs("\x01", "CMEX10") == "()"
        assert tex_glyphs("p", "CMSY10") == "√"
        assert tex_glyphs("X", "CMR10") == "X"

    def test_scrub_drops_control_and_private_use_characters(self) -> None:
        assert scrub("a\x00b\ue000c\x7fd\ne") == "abcd\ne"
        assert control_chars("a\x01b\ue000") == 2


class TestFactRule:
    """The table-fact rule of shared/papers/README.md, which the shared-paper test and bench apply."""

    def test_cells_must_be_separate(self) -> None:
        assert not fact_kept(("Uniform", "88.63"), markdown_table_rows("| Uniform88.63 | x |"))
        assert fact_kept(("Uniform", "88.63"), markdown_table_rows("| Uniform | 88.63 |"))

    def test_case_space_and_emphasis_insensitive_and_long_labels_contained(self) -> None:
        rows = markdown_table_rows("| STEP SIZE | **1e-4** |\n|---|---|\n| Adam+L-BFGS (ours) | 0.5 |")
        assert fact_kept(("StepSize", "1e-4"), rows)
        assert fact_kept(("Adam+L-BFGS", "0.5"), rows)
        assert not fact_kept(("Ada", "0.5"), rows)  # short labels must match the whole cell
