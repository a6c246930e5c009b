"""Every threshold the PDF parser uses, in one place, so they can be tuned against measurements."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

# Pages past which a PDF is probably a thesis or a book, not a paper: we still parse it but say so.
LONG_PDF_PAGES = 300


class ParserConfig(BaseModel):
    """Tunable thresholds of the pymupdf heuristics (see shared PARSING.md for where each comes from)."""

    # --- engine ------------------------------------------------------------------------------
    engine: Literal["layout", "heuristic"] = Field(
        "layout",
        description="'layout': regions (tables, figures, formulas, page furniture) from the pymupdf-layout "
        "model, text and headings from our own reading; 'heuristic': geometry alone (bench/parse.py)",
    )
    layout_pages: Literal["all", "floats"] = Field(
        "floats",
        description="pages the layout model runs on: 'floats' = pages with a figure/table caption or an "
        "image (the model costs ~0.2 s a page; elsewhere the heuristics read equations as well)",
    )

    furniture_band_share: float = Field(
        0.12, description="the model's page-header/footer regions count only inside this top/bottom band"
    )

    # --- extraction -------------------------------------------------------------------------
    drop_text_in_images: bool = Field(True, description="drop text lying inside raster images (plot labels)")
    max_image_page_share: float = Field(
        0.5, description="images covering more of the page than this are backgrounds, not figures"
    )

    # --- running headers, footers, page numbers --------------------------------------------------
    band_share: float = Field(0.08, description="top/bottom band of a page, as a share of its height")
    repeat_min_pages: int = Field(3, description="a candidate recurring on this many pages is a running line")
    repeat_page_share: float = Field(0.2, description="... or on this share of all pages, if larger")
    repeat_streak: int = Field(3, description="... or on this many consecutive pages")

    # --- line numbers (review copies) ---------------------------------------------------------
    line_number_min_count: int = Field(
        8, description="digit-only lines sharing one x before they are line numbers"
    )
    line_number_x_tol: float = Field(4.0, description="pt: how closely line numbers share their x position")

    # --- rows and columns ------------------------------------------------------------------------
    same_row_overlap: float = Field(0.5, description="vertical overlap share for two lines to be one row")
    column_tol_share: float = Field(0.05, description="tolerance around the page centre, as a share of width")
    two_column_min_lines: int = Field(6, description="lines needed in each column to call a page 2-column")

    # --- headings ---------------------------------------------------------------------------------
    use_toc: bool = Field(True, description="match headings to the PDF outline when it has one")
    heading_size_delta: float = Field(0.8, description="pt above body size that makes a line heading-sized")
    heading_max_words: int = 12
    heading_max_rows: int = 2
    toc_max_words: int = 25
    toc_fuzzy_ratio: float = Field(0.9, description="SequenceMatcher ratio to match a line to a TOC title")
    max_section_number: int = Field(40, description="a leading number above this is not a section number")
    run_in_headings: bool = Field(
        True, description="emit bold run-in prefixes ('Datasets. We ...') as labels"
    )
    run_in_max_words: int = 8

    # --- equations ------------------------------------------------------------------------------
    math_char_share: float = Field(
        0.45, description="share of mathy characters that makes a block an equation"
    )
    equation_max_rows: int = 12
    equation_min_chars: int = Field(8, description="an unlabelled display formula has at least this many")
    equation_max_number_share: float = Field(0.4, description="more number tokens than this: table rows")
    equation_min_size_share: float = Field(0.9, description="equations are not set smaller than this x body")

    # --- footnotes --------------------------------------------------------------------------------
    footnote_size_delta: float = Field(0.5, description="footnotes are at least this many pt below body size")
    footnote_top_share: float = Field(0.6, description="footnotes start below this share of the page height")
    footnote_gap_lines: float = Field(1.6, description="max gap, in line heights, to continue a footnote")

    # --- tables -------------------------------------------------------------------------------------
    table_min_rows: int = 2
    table_min_cols: int = 2
    table_search_reach: float = Field(
        300.0, description="pt above/below a table caption searched for its grid"
    )
    table_caption_gap: float = Field(60.0, description="pt: max distance between a table and its caption")
    table_max_cell_chars: float = Field(60.0, description="mean cell length above which a 'table' is prose")

    # --- document ---------------------------------------------------------------------------------
    long_pdf_pages: int = LONG_PDF_PAGES
    max_authors: int = 40
