"""Section headings for the PDF parser: the PDF outline first, then numbering + style + known names.

A heading is the first one or two rows of a block that are bold or larger than body text, short, and
either numbered ('3', '3.2', 'A.1', 'IV.') or a name papers use unnumbered ('Abstract', 'References').
Unnumbered headings set in the exact style of numbered ones (appendix titles) are accepted by style.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from difflib import SequenceMatcher

from papercoder_mcp.paper.pdf_blocks import run_in_label
from papercoder_mcp.paper.pdf_config import ParserConfig
from papercoder_mcp.paper.pdf_layout import Line, TBlock

NUMBERED = re.compile(
    r"^(?P<num>\d{1,2}(?:\.\d{1,2}){0,3}\.?|[IVX]{1,5}\.|[A-H](?:\.\d{1,2}){0,3}\.?)\s+(?P<title>\S.*)$"
)
KNOWN = re.compile(
    r"^(abstract|introduction|related works?|background|preliminaries|methods?|methodology|approach"
    r"|experiments?|experimental (setup|results|evaluation)|results|evaluation|discussion"
    r"|conclusions?( and future work)?|limitations|future work|acknowledge?ments?|references|bibliography"
    r"|appendix( [a-z])?|appendices|supplementary materials?|broader impacts?( statement)?"
    r"|ethics statement|reproducibility statement|impact statement)$",
    re.I,
)
APPENDIX_START = re.compile(r"^(appendix|appendices|supplementary)", re.I)
REFERENCES = re.compile(r"^(references|bibliography|literature cited)$", re.I)


@dataclass(slots=True)
class Heading:
    title: str
    number: str
    level: int
    page: int  # 0-based
    known: bool = False
    source: str = "style"  # 'toc', 'numbered', 'known', 'style'


def norm_title(text: str) -> str:
    """NFKC, lowercase, no numbering prefix, no punctuation, single spaces: GROBID-style soft form."""
    t = unicodedata.normalize("NFKC", text).lower().strip()
    m = NUMBERED.match(text.strip())
    if m and _valid_number(m.group("num"), m.group("title")):
        t = unicodedata.normalize("NFKC", m.group("title")).lower()
    t = re.sub(r"[^\w\s]", " ", t)
    return " ".join(t.split())


def _valid_number(num: str, title: str, max_number: int = 40) -> bool:
    if not title[:1].isalpha():
        return False
    head = num.rstrip(".").split(".")[0]
    if head.isdigit():
        return 0 < int(head) <= max_number
    if head[:1] in "ABCDEFGH" and len(head) == 1:
        # 'A Title' could be a sentence ('A model ...'); 'F.5 κ Grows ...' is numbered beyond doubt.
        return title[:1].isupper() or "." in num.rstrip(".")
    return True  # roman numeral with its period


def split_number(text: str, cfg: ParserConfig) -> tuple[str, str]:
    """('3.2', 'Attention') from '3.2 Attention'; ('', text) when there is no valid numbering."""
    m = NUMBERED.match(text.strip())
    if m:
        num, title = m.group("num"), m.group("title").strip()
        if _valid_number(num, title, cfg.max_section_number):
            return num.rstrip("."), title
    return "", text.strip()


def number_level(number: str) -> int:
    if not number:
        return 1
    if re.fullmatch(r"[IVX]{1,5}", number):
        return 1
    return min(number.count(".") + 1, 6)


def _styled(line: Line, body_size: float, cfg: ParserConfig) -> bool:
    return line.bold_with_math or line.size >= body_size + cfg.heading_size_delta


def _shape_ok(title: str, cfg: ParserConfig) -> bool:
    words = title.split()
    if not words or len(words) > cfg.heading_max_words:
        return False
    if title.endswith((".", ",", ";")) or re.search(r"\.\s+\S", title):
        return False
    return any(ch.isalpha() for ch in title)


@dataclass(slots=True)
class _Candidate:
    block_index: int
    rows: int  # how many leading rows of the block form the heading
    text: str
    number: str
    title: str
    page: int
    signature: tuple[float, bool]
    styled: bool
    large: bool
    standalone: bool
    aligned: bool


def _candidates(
    blocks: list[TBlock], body_size: float, lefts: dict[tuple[int, str], float], cfg: ParserConfig
):
    out: list[_Candidate] = []
    for i, blk in enumerate(blocks):
        if blk.kind != "text" or not blk.lines:
            continue
        first = blk.lines[0]
        key = (blk.page, "right" if blk.column == "right" else "left")
        left = lefts.get(key, first.bbox[0])
        aligned = first.bbox[0] <= left + 20.0
        per_block: list[_Candidate] = []
        for n in range(1, min(cfg.heading_max_rows, len(blk.lines)) + 1):
            rows = blk.lines[:n]
            text = " ".join(r.text for r in rows).strip()
            if len(text.split()) > cfg.toc_max_words:
                break
            if n > 1 and (rows[-1].bbox[1] - rows[-2].bbox[3]) > 0.8 * (rows[-2].bbox[3] - rows[-2].bbox[1]):
                break  # a wide gap: the second row is body text, not a wrapped heading
            styled = all(_styled(r, body_size, cfg) for r in rows)
            if n > 1 and not styled:
                break
            number, title = split_number(text, cfg)
            per_block.append(
                _Candidate(
                    block_index=i,
                    rows=n,
                    text=text,
                    number=number,
                    title=title,
                    page=blk.page,
                    signature=(round(first.size * 2) / 2, first.bold),
                    styled=styled,
                    large=min(r.size for r in rows) >= body_size + cfg.heading_size_delta,
                    standalone=n == len(blk.lines),
                    aligned=aligned,
                )
            )
        out.extend(reversed(per_block))  # a two-row heading is preferred over its first row alone
        # A known name run in bold ahead of its text ('Acknowledgements We thank ...') is a section too;
        # rows=0 tells the caller to cut the label off the first row.
        split = run_in_label(first, cfg)
        if split is not None and not per_block_has_heading(per_block):
            label = split[0].rstrip(".:—–- ").strip()
            if KNOWN.match(label):
                out.append(
                    _Candidate(
                        i, 0, label, "", label, blk.page, _signature(first), True, False, False, aligned
                    )
                )
    return out


def per_block_has_heading(cands: list[_Candidate]) -> bool:
    return any(c.styled for c in cands)


def detect_headings(
    blocks: list[TBlock],
    body_size: float,
    toc: list[list],
    lefts: dict[tuple[int, str], float],
    cfg: ParserConfig,
) -> dict[int, tuple[Heading, int]]:
    """Map block index -> (heading, number of leading rows it takes)."""
    cands = _candidates(blocks, body_size, lefts, cfg)
    chosen: dict[int, tuple[Heading, int]] = {}

    toc_entries = [
        (int(lvl), str(title), int(page) - 1) for lvl, title, page, *_ in toc if str(title).strip()
    ]
    if toc_entries:
        _match_toc(cands, toc_entries, chosen, cfg)

    toc_pages = [p for _, _, p in toc_entries if p >= 0]
    last_toc_page = max(toc_pages) if toc_pages else -1
    toc_depth = max((lvl for lvl, _, _ in toc_entries), default=0)

    styled_unknown: list[_Candidate] = []
    for c in cands:
        if c.block_index in chosen or not c.styled or not c.aligned and not c.large:
            continue
        if not _shape_ok(c.title, cfg):
            continue
        known = bool(KNOWN.match(c.title.rstrip(":").strip()))
        if c.number:
            level = number_level(c.number)
            if toc_entries and level <= toc_depth and c.page <= last_toc_page:
                continue  # the outline covers this part of the paper and did not list it
            chosen[c.block_index] = (Heading(c.title, c.number, level, c.page, known, "numbered"), c.rows)
        elif known:
            chosen[c.block_index] = (
                Heading(c.title.rstrip(":").strip(), "", 1, c.page, True, "known"),
                c.rows,
            )
        elif c.large and c.standalone and c.title[:1].isupper():
            styled_unknown.append(c)

    # Unnumbered headings in the very style of numbered ones (e.g. appendix titles) are headings too.
    sig_levels: dict[tuple[float, bool], Counter[int]] = {}
    for idx, (h, _rows) in chosen.items():
        if h.number or h.source == "toc":
            sig = _signature(blocks[idx].lines[0])
            sig_levels.setdefault(sig, Counter())[h.level] += 1
    for c in styled_unknown:
        if toc_entries and c.page <= last_toc_page:
            continue
        levels = sig_levels.get(c.signature)
        if levels and c.block_index not in chosen:
            level = levels.most_common(1)[0][0]
            chosen[c.block_index] = (Heading(c.title, "", level, c.page, False, "style"), c.rows)
    _drop_contents_entries(chosen)
    _drop_out_of_sequence(chosen)
    return chosen


def _drop_contents_entries(chosen: dict[int, tuple[Heading, int]]) -> None:
    """A numbered heading met again later is an entry of a table of contents (appendix TOCs are
    common): the later one is the section."""
    last: dict[tuple[str, str], int] = {}
    for idx in sorted(chosen):
        h = chosen[idx][0]
        if h.number and h.source != "toc":
            key = (h.number, norm_title(h.title))
            if key in last:
                del chosen[last[key]]
            last[key] = idx


def _drop_out_of_sequence(chosen: dict[int, tuple[Heading, int]]) -> None:
    """Section numbers run 1, 2, 3 ... then A, B, C: a '12' after '8' or after the appendix began is a
    numbered line of an algorithm or a list, not a section."""
    last_digit = 0
    last_letter = 0
    digits = [i for i, (h, _) in chosen.items() if h.number[:1].isdigit()]
    first_digit = min(digits, default=-1)
    for idx in sorted(chosen):
        h = chosen[idx][0]
        if not h.number or h.source == "toc" or re.fullmatch(r"[IVX]+", h.number):
            continue
        head = h.number.split(".")[0]
        if head.isalpha() and idx < first_digit:
            continue  # before the body ('A Study of ...' is a title): no appendix yet
        if head.isdigit():
            n = int(head)
            if last_letter or n < last_digit or n > last_digit + (3 if last_digit == 0 else 2):
                del chosen[idx]
                continue
            last_digit = n
        elif len(head) == 1 and head.isalpha():
            n = ord(head) - ord("A") + 1
            if n < last_letter or n > last_letter + 2:
                del chosen[idx]
                continue
            last_letter = n


def _signature(line: Line) -> tuple[float, bool]:
    return (round(line.size * 2) / 2, line.bold)


def _match_toc(
    cands: list[_Candidate],
    toc_entries: list[tuple[int, str, int]],
    chosen: dict[int, tuple[Heading, int]],
    cfg: ParserConfig,
) -> None:
    """Match outline entries to block-leading rows on their page: styled rows first, then any row."""
    normed = [(lvl, title, page, norm_title(title)) for lvl, title, page in toc_entries]
    matched: set[int] = set()
    for require_style in (True, False):
        for ti, (lvl, _title, page, nt) in enumerate(normed):
            if ti in matched or not nt:
                continue
            for c in cands:
                if c.block_index in chosen or (require_style and not c.styled):
                    continue
                if page >= 0 and abs(c.page - page) > 1:
                    continue
                nc = norm_title(c.text)
                if not _same_title(nc, nt, cfg):
                    continue
                number = c.number
                chosen[c.block_index] = (
                    Heading(c.title, number, max(1, min(lvl, 6)), c.page, False, "toc"),
                    c.rows,
                )
                matched.add(ti)
                break
    # Outlines often put the paper title at level 1 and sections at 2: shift levels so numbering agrees.
    shifts = Counter(
        h.level - number_level(h.number) for h, _ in chosen.values() if h.source == "toc" and h.number
    )
    if shifts:
        shift = shifts.most_common(1)[0][0]
        if shift:
            for h, _ in chosen.values():
                if h.source == "toc":
                    h.level = max(1, min(6, h.level - shift))


def _same_title(a: str, b: str, cfg: ParserConfig) -> bool:
    if a == b:
        return True
    if len(b) >= 12 and (a.startswith(b) or b.startswith(a)) and min(len(a), len(b)) >= 12:
        return True
    return SequenceMatcher(None, a, b).ratio() >= cfg.toc_fuzzy_ratio
