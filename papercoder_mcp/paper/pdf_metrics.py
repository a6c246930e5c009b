"""Heading metrics for measuring the parser: strict, soft (GROBID-style) and soft+level P/R/F1, plus order.

Used by tests/test_shared_papers.py and bench/parse.py so both score the same way.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass
from difflib import SequenceMatcher

from papercoder_mcp.paper.models import Paper

SOFT_RATIO = 0.9
_NUMBER_PREFIX = re.compile(r"^\s*(\d+(\.\d+)*\.?|[IVX]{1,5}\.|[A-H](\.\d+)*\.?)\s+(?=\S)")
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")

Heading = tuple[int, str]


def normalise(title: str) -> str:
    """NFKC, no markdown emphasis, no numbering prefix, lowercase, no punctuation, single spaces."""
    t = unicodedata.normalize("NFKC", title).replace("*", "").replace("_", " ").strip()
    t = _NUMBER_PREFIX.sub("", t)
    t = re.sub(r"[^\w\s]", " ", t.lower())
    return " ".join(t.split())


def markdown_headings(markdown: str) -> list[Heading]:
    """(level, title) of each '#' line; levels re-ranked so the shallowest present is 1."""
    found: list[Heading] = []
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        m = None if in_code else _MD_HEADING.match(line)
        if m and m.group(2).strip():
            found.append((len(m.group(1)), m.group(2)))
    if not found:
        return []
    ranks = {lvl: i + 1 for i, lvl in enumerate(sorted({lvl for lvl, _ in found}))}
    return [(ranks[lvl], t) for lvl, t in found]


def paper_headings(paper: Paper) -> list[Heading]:
    """What our parser claims as headings: title and abstract (level 1, as reference files write them),
    the section tree, and 'References' when a reference list was found."""
    out: list[Heading] = []
    if paper.title:
        out.append((1, paper.title))
    if paper.abstract:
        out.append((1, "Abstract"))
    for s in paper.all_sections():
        out.append((s.level, f"{s.number} {s.title}".strip()))
    if paper.references:
        out.append((1, "References"))
    return out


@dataclass
class Scores:
    precision: float
    recall: float
    f1: float
    matched: int
    predicted: int
    reference: int
    order: float  # share of matched headings in the reference's order (longest increasing subsequence)

    def row(self) -> str:
        return f"{self.precision:.2f} / {self.recall:.2f} / {self.f1:.2f}"


def score(predicted: list[Heading], reference: list[Heading], mode: str = "soft") -> Scores:
    """Greedy in-order matching of predicted to reference headings. mode: 'strict', 'soft', 'soft+level'."""
    ref_norm = [(lvl, normalise(t)) for lvl, t in reference]
    used = [False] * len(reference)
    matched_idx: list[int] = []
    for lvl, title in predicted:
        p = normalise(title)
        for j, (rl, r) in enumerate(ref_norm):
            if used[j]:
                continue
            same = p == r if mode == "strict" else SequenceMatcher(None, p, r).ratio() >= SOFT_RATIO
            if same and (mode != "soft+level" or lvl == rl):
                used[j] = True
                matched_idx.append(j)
                break
    n = len(matched_idx)
    precision = n / len(predicted) if predicted else 0.0
    recall = n / len(reference) if reference else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(
        precision, recall, f1, n, len(predicted), len(reference), _lis(matched_idx) / n if n else 0.0
    )


def _lis(seq: list[int]) -> int:
    tails: list[int] = []
    for x in seq:
        i = bisect_left(tails, x)
        if i == len(tails):
            tails.append(x)
        else:
            tails[i] = x
    return len(tails)


def numbered_only(reference: list[Heading]) -> bool:
    """True when a reference lists only numbered headings (the ICML files in shared/papers): precision is
    then judged on the predicted numbered headings, since Abstract or References are true but unlisted."""
    return bool(reference) and all(_NUMBER_PREFIX.match(t.replace("*", "")) for _, t in reference)


def precision_candidates(predicted: list[Heading], reference: list[Heading]) -> list[Heading]:
    """The predicted headings that precision is judged on against `reference`."""
    if not numbered_only(reference):
        return predicted
    return [(lvl, t) for lvl, t in predicted if _NUMBER_PREFIX.match(t.replace("*", "").strip())]


# --- table facts (shared/papers/README.md) ---------------------------------------------------------

Fact = tuple[str, str]
_EMPHASIS = re.compile(r"\*\*|__|<sup>|</sup>|<sub>|</sub>|<b>|</b>")


def read_facts(text: str) -> list[Fact]:
    """`label<TAB>value` lines of a facts.tsv; '#' lines are comments."""
    facts: list[Fact] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#") or "\t" not in line:
            continue
        label, value = line.split("\t", 1)
        facts.append((label.strip(), value.strip()))
    return facts


def _cell_key(cell: str) -> str:
    # Emphasis is markup, not content: a bold best result '**5.95e-6**' is the cell 5.95e-6.
    return "".join(_EMPHASIS.sub("", unicodedata.normalize("NFKC", cell)).strip("*_ ").split()).casefold()


def markdown_table_rows(markdown: str) -> list[list[str]]:
    """Cells of every Markdown table row ('| a | b |'); separator rows are skipped."""
    rows: list[list[str]] = []
    for line in markdown.splitlines():
        s = line.strip()
        if not (s.startswith("|") and s.endswith("|") and len(s) > 1):
            continue
        cells = [c.strip() for c in s[1:-1].split("|")]
        if all(re.fullmatch(r":?-{3,}:?", c) for c in cells if c):
            continue
        rows.append(cells)
    return rows


def fact_kept(fact: Fact, rows: list[list[str]]) -> bool:
    """A fact is kept when one row has a cell equal to the label (a label of 4+ characters may be
    contained in a longer cell) and another cell equal to the value."""
    label, value = _cell_key(fact[0]), _cell_key(fact[1])
    for row in rows:
        keys = [_cell_key(c) for c in row]
        for i, k in enumerate(keys):
            if k == label or (len(label) >= 4 and label in k):
                if any(j != i and v == value for j, v in enumerate(keys)):
                    return True
    return False


def fact_recall(markdown: str, facts: list[Fact]) -> float:
    rows = markdown_table_rows(markdown)
    return sum(fact_kept(f, rows) for f in facts) / len(facts) if facts else 0.0


def control_chars(text: str) -> int:
    """Control (other than newline and tab) and private-use characters: they make grep call a file binary
    and reach the model as noise."""
    return sum(1 for ch in text if ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Co", "Cs"))
