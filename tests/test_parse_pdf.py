"""The PDF parser on synthetic papers whose structure is known by construction."""

from __future__ import annotations

from pathlib import Path

import pytest

from papercoder_mcp.errors import PaperParseError
from papercoder_mcp.paper import parse_document
from papercoder_mcp.paper.models import Paper
from papercoder_mcp.paper.pdf import ParserConfig, parse_pdf
from papercoder_mcp.paper.pdf_layout import normalise_running

from pdf_fixtures import (
    AUTHORS,
    RUNNING_HEADER,
    STAMP,
    TITLE,
    blank_pdf,
    corrupt_pdf,
    encrypted_pdf,
    image_only_pdf,
    one_column_paper,
    two_column_paper,
    zero_page_pdf,
)


@pytest.fixture(scope="module")
def two_col(tmp_path_factory: pytest.TempPathFactory) -> Paper:
    return parse_pdf(two_column_paper(tmp_path_factory.mktemp("pdf") / "two.pdf"))


@pytest.fixture(scope="module")
def one_col(tmp_path_factory: pytest.TempPathFactory) -> Paper:
    return parse_pdf(one_column_paper(tmp_path_factory.mktemp("pdf") / "one.pdf"))


def _body(paper: Paper) -> str:
    return paper.to_markdown(include_references=False)


class TestTwoColumnStructure:
    def test_front_matter(self, two_col: Paper) -> None:
        assert two_col.title == TITLE
        assert two_col.authors == AUTHORS
        assert two_col.abstract.startswith("We present a parser that turns papers into structured text")
        assert two_col.page_count == 3
        assert two_col.warnings == []

    def test_sections_in_reading_order_with_levels_and_numbers(self, two_col: Paper) -> None:
        got = [(s.number, s.title, s.level) for s in two_col.all_sections()]
        assert got == [
            ("1", "Introduction", 1),
            ("2", "Method", 1),
            ("2.1", "Attention Layer", 2),
            ("2.2", "Training Setup", 2),
            ("3", "Experiments", 1),
            ("3.1", "Results", 2),
            ("4", "Conclusion", 1),
            ("A", "Proofs", 1),
        ]
        assert [s.page for s in two_col.all_sections()] == [1, 1, 1, 1, 2, 2, 2, 3]

    def test_running_header_page_numbers_stamp_and_line_numbers_are_gone(self, two_col: Paper) -> None:
        md = two_col.to_markdown()
        assert RUNNING_HEADER not in md
        assert "arXiv:2611" not in md and STAMP not in md
        # Line numbers would show up as runs of bare integers between paragraphs or inside them.
        assert not any(part.strip().isdigit() for part in md.split("\n\n"))
        intro = two_col.all_sections()[0].blocks[0].text
        assert intro.startswith("Parsing papers is hard")

    def test_hyphenation_joined(self, two_col: Paper) -> None:
        intro = two_col.all_sections()[0].blocks[0].text
        assert "transformer era" in intro
        assert "components are simple" in intro
        assert "trans-" not in intro

    def test_display_equation_kept_with_label(self, two_col: Paper) -> None:
        assert [(e.text, e.label) for e in two_col.equations] == [("y = s(q k) v + b", "(1)")]
        attention = two_col.all_sections()[2]
        kinds = [b.kind for b in attention.blocks]
        assert kinds == ["paragraph", "equation", "paragraph"]
        assert "$$\ny = s(q k) v + b\n$$ (1)" in _body(two_col)

    def test_run_in_heading_is_a_label_not_a_section(self, two_col: Paper) -> None:
        setup = two_col.all_sections()[3]
        assert setup.blocks[0].kind == "label"
        assert setup.blocks[0].label == "Datasets."
        assert setup.blocks[0].text.startswith("We train on one thousand synthetic pages")

    def test_table_after_its_caption_with_cells(self, two_col: Paper) -> None:
        assert len(two_col.tables) == 1
        table = two_col.tables[0]
        assert table.number == "1" and table.page == 2
        assert table.caption.startswith("Table 1: Accuracy of the parsers")
        assert "|Model|Accuracy|F1|" in table.markdown
        assert "|Baseline|71.2|0.65|" in table.markdown and "|Ours|84.5|0.79|" in table.markdown
        # The full-width table sits above the columns: it lands before section 3, right after its caption.
        preamble_kinds = [b.kind for b in two_col.sections[1].children[1].blocks]
        assert preamble_kinds[-2:] == ["caption", "table"]
        # Its cell text is not repeated as loose paragraphs.
        assert _body(two_col).count("84.5") == 1

    def test_captions(self, two_col: Paper) -> None:
        assert [(c.kind, c.number, c.page) for c in two_col.captions] == [
            ("table", "1", 2),
            ("figure", "1", 2),
        ]
        assert "> **Figure 1:** Overview of the synthetic pipeline." in _body(two_col)

    def test_footnote(self, two_col: Paper) -> None:
        assert two_col.footnotes == ["1 Code and data are available at example.org."]
        intro = two_col.all_sections()[0].blocks[0].text
        assert intro.endswith(
            "text that any engineer can read and tune. All code is released with this paper.^{1}"
        )

    def test_references_apart_and_split(self, two_col: Paper) -> None:
        assert len(two_col.references) == 3
        assert two_col.references[1].startswith("[2] Alan Turing. On computable numbers")
        assert two_col.references[1].endswith("Proceedings of the London Mathematical Society, 1936.")
        assert "Entscheidungsproblem" not in _body(two_col)
        assert all(s.title != "References" for s in two_col.all_sections())
        assert "Entscheidungsproblem" in two_col.to_markdown(include_references=True)


class TestOneColumn:
    def test_outline_without_toc(self, one_col: Paper) -> None:
        assert one_col.title == "Learning to Parse Without Labels"
        assert one_col.authors == ["Jane Doe"]
        assert one_col.abstract.startswith("We learn to parse documents without labels.")
        assert one_col.outline() == [
            "1 Introduction",
            "  1.1 Motivation",
            "2 Related Work",
            "  2.1 Rule-based Parsers",
            "  2.2 Learned Parsers",
            "3 Conclusion",
            "Acknowledgments",
        ]
        assert one_col.references == [
            "Doe, J. Parsing things. Journal of Parsing, 2020.",
            "Roe, R. Parsing more things. Journal of Parsing, 2021.",
        ]

    def test_toc_finds_a_heading_set_in_plain_type(self, tmp_path: Path) -> None:
        paper = parse_pdf(one_column_paper(tmp_path / "toc.pdf", toc=True))
        assert "  2.2 Learned Parsers" in paper.outline()
        assert paper.outline()[:6] == [
            "1 Introduction",
            "  1.1 Motivation",
            "2 Related Work",
            "  2.1 Rule-based Parsers",
            "  2.2 Learned Parsers",
            "3 Conclusion",
        ]

    def test_without_toc_a_plain_numbered_line_is_not_a_heading(self, tmp_path: Path) -> None:
        # Same document as the TOC case but with no outline: '2.2 Learned Parsers' in plain type stays text.
        import pymupdf

        path = one_column_paper(tmp_path / "toc.pdf", toc=True)
        doc = pymupdf.open(path)
        doc.set_toc([])
        doc.save(tmp_path / "notoc.pdf")
        paper = parse_pdf(tmp_path / "notoc.pdf")
        assert "  2.2 Learned Parsers" not in paper.outline()

    def test_dispatch_through_parse_document(self, tmp_path: Path) -> None:
        paper = parse_document(one_column_paper(tmp_path / "paper.pdf"))
        assert paper.source_format == "pdf"
        assert paper.sections[0].title == "Introduction"


class TestErrors:
    def test_encrypted(self, tmp_path: Path) -> None:
        with pytest.raises(PaperParseError, match="encrypted and needs a password"):
            parse_pdf(encrypted_pdf(tmp_path / "enc.pdf"))

    def test_corrupt(self, tmp_path: Path) -> None:
        with pytest.raises(PaperParseError, match="not a readable PDF"):
            parse_pdf(corrupt_pdf(tmp_path / "bad.pdf"))

    def test_not_a_pdf_at_all(self, tmp_path: Path) -> None:
        path = tmp_path / "page.pdf"
        path.write_text("<html><body>Access denied</body></html>")
        with pytest.raises(PaperParseError, match="not a readable PDF"):
            parse_pdf(path)

    def test_blank_page(self, tmp_path: Path) -> None:
        with pytest.raises(PaperParseError, match="contains no text"):
            parse_pdf(blank_pdf(tmp_path / "blank.pdf"))

    def test_image_only_is_called_scanned_and_points_to_latex(self, tmp_path: Path) -> None:
        with pytest.raises(PaperParseError, match="looks scanned") as err:
            parse_pdf(image_only_pdf(tmp_path / "scan.pdf"))
        assert "LaTeX source" in str(err.value) and "Other formats" in str(err.value)

    def test_zero_pages(self, tmp_path: Path) -> None:
        with pytest.raises(PaperParseError, match="no pages|not a readable PDF"):
            parse_pdf(zero_page_pdf(tmp_path / "zero.pdf"))

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(PaperParseError, match="no such file"):
            parse_pdf(tmp_path / "nope.pdf")


class TestLongPdf:
    def test_over_the_page_limit_warns_instead_of_failing(self, tmp_path: Path) -> None:
        paper = parse_pdf(two_column_paper(tmp_path / "two.pdf"), ParserConfig(long_pdf_pages=2))
        assert any("longer than a paper usually is" in w for w in paper.warnings)
        assert len(paper.all_sections()) == 8


class TestHelpers:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("Under Review  12", "under review"),
            ("iv Preprint", "preprint"),
            ("17", ""),
        ],
    )
    def test_normalise_running(self, text: str, expected: str) -> None:
        assert normalise_running(text) == expected


class TestPagesShownAsImages:
    def test_the_methods_equations_come_before_an_appendix_of_proofs(self) -> None:
        from papercoder_mcp.paper.models import Equation, Section
        from papercoder_mcp.paper.pages import visual_pages

        sections = [
            Section(title="Method", number="3", page=3),
            Section(title="Proofs", number="A", page=10),
        ]
        # Method equations on pages 3 and 4 (two each); the appendix has a page of ten.
        equations = [Equation(text="x", page=p) for p in (3, 3, 4, 4, *[11] * 10, 12)]
        paper = Paper(sections=sections, equations=equations, page_count=12)
        assert visual_pages(paper, limit=2) == [3, 4]
        assert visual_pages(paper, limit=3) == [3, 4, 11]
        # Without an appendix heading, the busiest pages win as before.
        assert visual_pages(Paper(equations=equations, page_count=12), limit=2) == [3, 11]
