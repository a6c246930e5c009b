"""Markdown and plain-text papers parsed into a `Paper`.

Markdown headings give the structure directly. Plain text has none, so a line counts as
a heading only when it looks like one a paper would print: a short numbered line
("2.1 Setup") or a known unnumbered name ("Conclusion").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from papercoder_mcp.errors import PaperParseError, ValidationFailed
from papercoder_mcp.limits import load_yaml
from papercoder_mcp.paper.models import Block, Caption, Equation, Paper, Section, Table

__all__ = ["SectionStack", "parse_markdown_file", "parse_markdown_text", "parse_plain_text"]


class SectionStack:
    """Nests a flat run of headings and blocks into sections by level.

    Shared with the LaTeX parser: both produce headings and blocks in reading order.
    """

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self.preamble: list[Block] = []
        self._open: list[Section] = []

    def heading(self, title: str, number: str, level: int) -> Section:
        section = Section(title=title, number=number, level=max(1, min(level, 6)))
        while self._open and self._open[-1].level >= section.level:
            self._open.pop()
        (self._open[-1].children if self._open else self.sections).append(section)
        self._open.append(section)
        return section

    def add(self, block: Block) -> None:
        (self._open[-1].blocks if self._open else self.preamble).append(block)


# "3.2 Foo", "3.2. Foo", "A.1 Foo", "A. Foo", "IV. Foo"; a lone capital needs its dot so "A Model" stays a title.
NUMBER_RE = re.compile(
    r"^(?P<num>\d+(?:\.\d+)*|[A-Z](?:\.\d+)+|[A-Z](?=[.:]\s)|[IVX]+(?=\.\s))[.:]?\s+(?P<title>\S.*)$"
)
ABSTRACT_NAMES = {"abstract", "summary"}
REFERENCE_NAMES = {"references", "bibliography", "references and notes", "works cited", "literature cited"}
KNOWN_HEADINGS = {
    "abstract",
    "introduction",
    "related work",
    "related works",
    "background",
    "preliminaries",
    "method",
    "methods",
    "methodology",
    "approach",
    "model",
    "experiments",
    "experimental setup",
    "experimental results",
    "evaluation",
    "results",
    "discussion",
    "analysis",
    "limitations",
    "conclusion",
    "conclusions",
    "conclusion and future work",
    "conclusions and future work",
    "future work",
    "acknowledgements",
    "acknowledgments",
    "acknowledgement",
    "acknowledgment",
    "references",
    "bibliography",
    "appendix",
    "broader impact",
    "broader impacts",
    "ethics statement",
    "reproducibility statement",
    "summary",
}
CAPTION_RE = re.compile(
    r"^(?:\*\*|\*|_)?(?P<kind>Figure|Fig\.|Table|Algorithm)\s+(?P<num>[A-Z]?\.?\d+)(?:\*\*|\*|_)?[.:]\s*(?:\*\*|\*|_)?\s*(?P<text>.*)$"
)
LABEL_RE = re.compile(r"^\*\*(?P<label>[^*]+?[.:])\*\*\s*(?P<text>.*)$", re.S)
LIST_RE = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
TABLE_SEP_RE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
FENCE_RE = re.compile(r"^\s*(`{3,}|~{3,})")
HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FOOTNOTE_RE = re.compile(r"^\[\^([^\]]+)\]:\s*(.*)$")
# Where a reference entry starts; "[3]" stays in the text, since the body cites by it.
REF_MARK_RE = re.compile(r"^\s*(?:[-*+]\s+|\[\d+\]\s*|\d+\.\s+)")
BULLET_RE = re.compile(r"^\s*(?:[-*+]|\d+\.)\s+")


def parse_markdown_file(path: str | Path) -> Paper:
    """Parse a .md (Markdown) or .txt (plain text) paper."""
    p = Path(path)
    data = p.read_bytes()
    if b"\0" in data[:65536]:
        raise PaperParseError(f"{p}: looks like a binary file, not text; give a UTF-8 .md or .txt file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PaperParseError(
            f"{p}: not valid UTF-8 text (bad byte at offset {exc.start}); re-save it as UTF-8"
        ) from exc
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise PaperParseError(f"{p}: the file is empty")
    if p.suffix.lower() in (".txt", ".text"):
        return parse_plain_text(text, source=str(p))
    return parse_markdown_text(text, source=str(p))


@dataclass
class _Event:
    """A heading (level > 0) or a block (level == 0), in reading order."""

    level: int
    title: str = ""
    block: Block | None = None
    lines: list[str] = field(default_factory=list)  # a paragraph's source lines, for reference lists


@dataclass
class _Assembler:
    """Turns events into a Paper: abstract and references are pulled out, the rest nested."""

    title: str
    source_format: str
    source: str
    stack: SectionStack = field(default_factory=SectionStack)
    abstract: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    captions: list[Caption] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    equations: list[Equation] = field(default_factory=list)
    footnotes: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)

    def run(self, events: list[_Event]) -> Paper:
        mode = "body"
        for k, ev in enumerate(events):
            if ev.block is None:
                number, title = split_number(ev.title)
                key = title.lower().rstrip(":.")
                if not number and key in ABSTRACT_NAMES and not self.abstract:
                    mode = "abstract"
                    continue
                if key in REFERENCE_NAMES:
                    mode = "references"
                    continue
                mode = "body"
                self.stack.heading(title, number, ev.level)
                continue
            block = ev.block
            if mode == "abstract":
                self.abstract.append(block.text)
            elif mode == "references":
                self.references.extend(_reference_entries(block, ev.lines))
            else:
                self._block(block, events, k)
        return Paper(
            title=self.title,
            authors=self.authors,
            abstract="\n\n".join(self.abstract),
            sections=self.stack.sections,
            preamble=self.stack.preamble,
            captions=self.captions,
            tables=self.tables,
            equations=self.equations,
            footnotes=self.footnotes,
            references=self.references,
            source=self.source,
            source_format=self.source_format,
        )

    def _block(self, block: Block, events: list[_Event], k: int) -> None:
        if block.kind == "equation":
            self.equations.append(Equation(text=block.text, label=block.label))
        elif block.kind == "caption":
            kind = {"Figure": "figure", "Table": "table", "Algorithm": "algorithm"}[block.label.split()[0]]
            cap = Caption(kind=kind, number=block.label.split()[1], text=block.text)
            self.captions.append(cap)
            block.text = f"{block.label}: {cap.text}"
            # A table caption may also come right after its table.
            prev = events[k - 1].block if k > 0 else None
            if kind == "table" and prev is not None and prev.kind == "table" and not self.tables[-1].number:
                self.tables[-1].number, self.tables[-1].caption = cap.number, cap.text
                prev.label = block.label
        elif block.kind == "table":
            table = Table(markdown=block.markdown)
            prev = events[k - 1].block if k > 0 else None
            if prev is not None and prev.kind == "caption" and prev.label.startswith("Table "):
                number = prev.label.split()[1]
                if all(t.number != number for t in self.tables):
                    table.number, table.caption = number, prev.text.split(": ", 1)[-1]
                    block.label = prev.label
            self.tables.append(table)
        self.stack.add(block)


def split_number(heading: str) -> tuple[str, str]:
    """("3.2", "Attention") from "3.2 Attention"; ("", heading) when it is not numbered."""
    h = heading.strip()
    m = NUMBER_RE.match(h)
    if m is None:
        return "", h
    return m.group("num").rstrip("."), m.group("title").strip()


def _reference_entries(block: Block, source_lines: list[str]) -> list[str]:
    if block.kind == "list":
        return [BULLET_RE.sub("", item).strip() for item in _list_items(block.text)]
    lines = [x.strip() for x in (source_lines or block.text.split("\n")) if x.strip()]
    if any(REF_MARK_RE.match(x) for x in lines):
        return [BULLET_RE.sub("", item).strip() for item in _group_marked(lines)]
    return lines


def _list_items(text: str) -> list[str]:
    items: list[str] = []
    for line in text.split("\n"):
        if LIST_RE.match(line) or not items:
            items.append(line.strip())
        else:
            items[-1] += " " + line.strip()
    return items


def _group_marked(lines: list[str]) -> list[str]:
    """Entries that start with a marker ("[3]", "3.", "-"); unmarked lines continue the entry before."""
    items: list[str] = []
    for line in lines:
        if REF_MARK_RE.match(line) or not items:
            items.append(line)
        else:
            items[-1] += " " + line
    return items


# ---------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------


def parse_markdown_text(text: str, source: str = "") -> Paper:
    meta, text = _front_matter(text)
    events = list(_markdown_events(text))
    if not any(ev.block is not None or ev.title for ev in events) and not meta:
        raise PaperParseError(f"{source or 'Markdown'}: the document is empty")
    top = [k for k, ev in enumerate(events) if ev.block is None and ev.level == 1]
    first_heading = next((k for k, ev in enumerate(events) if ev.block is None), None)
    title = str(meta.get("title", "") or "")
    # One "# " heading that opens the document is the title; several are top-level sections.
    if len(top) == 1 and top[0] == first_heading:
        if not title:
            title = events[top[0]].title.strip()
        del events[top[0]]
    levels = [ev.level for ev in events if ev.block is None]
    shift = min(levels) - 1 if levels else 0
    for ev in events:
        if ev.block is None:
            ev.level -= shift
    asm = _Assembler(title=title, source_format="markdown", source=source)
    asm.authors = _meta_authors(meta.get("authors") or meta.get("author"))
    paper = asm.run(_extract_footnotes(events, asm.footnotes))
    if not (paper.title or paper.abstract or paper.sections or paper.preamble):
        raise PaperParseError(f"{source or 'Markdown'}: the document has no text")
    return paper


def _meta_authors(raw: object) -> list[str]:
    """Authors from front matter: "A, B and C", a list of names, or pandoc's list of {name: ...}."""
    if isinstance(raw, str):
        return [a.strip() for a in re.split(r",| and ", raw) if a.strip()]
    if isinstance(raw, list):
        names = [str(a.get("name", "")) if isinstance(a, dict) else str(a) for a in raw]
        return [n.strip() for n in names if n and n.strip()]
    return []


def _front_matter(text: str) -> tuple[dict[str, object], str]:
    """YAML front matter (`---` ... `---`) as metadata; papers exported by pandoc and Quarto carry it."""
    m = re.match(r"^---\n(.*?)\n(?:---|\.\.\.)\n", text, re.S)
    if m is None:
        return {}, text
    try:
        meta = load_yaml(m.group(1), "the front matter")
    except (yaml.YAMLError, ValidationFailed):
        return {}, text
    return (meta if isinstance(meta, dict) else {}), text[m.end() :]


def _extract_footnotes(events: list[_Event], footnotes: list[str]) -> list[_Event]:
    kept: list[_Event] = []
    for ev in events:
        if ev.block is not None and ev.block.kind == "footnote":
            footnotes.append(ev.block.text)
        else:
            kept.append(ev)
    return kept


def _markdown_events(text: str) -> Iterator[_Event]:
    lines = text.split("\n")
    para: list[str] = []
    i = 0

    def flush() -> _Event | None:
        if not para:
            return None
        block = _paragraph_block(" ".join(x.strip() for x in para))
        lines = list(para)
        para.clear()
        return _Event(0, block=block, lines=lines) if block else None

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        fence = FENCE_RE.match(line)
        heading = HEADING_RE.match(line)
        if _starts_block(lines, i) or not stripped or FOOTNOTE_RE.match(stripped):
            ev = flush()
            if ev:
                yield ev
        if fence:
            mark = fence.group(1)
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith(mark[0] * len(mark)):
                j += 1
            yield _Event(0, block=Block(kind="code", text="\n".join(lines[i + 1 : j])))
            i = j + 1
        elif heading:
            yield _Event(len(heading.group(1)), title=heading.group(2))
            i += 1
        elif not stripped:
            i += 1
        elif stripped.startswith(("$$", "\\[")):
            block, i = _display_math(lines, i)
            yield _Event(0, block=block)
        elif _is_table_start(lines, i):
            j = i
            while j < len(lines) and "|" in lines[j] and lines[j].strip():
                j += 1
            md = "\n".join(x.strip() for x in lines[i:j])
            yield _Event(0, block=Block(kind="table", text=md, markdown=md))
            i = j
        elif m := FOOTNOTE_RE.match(stripped):
            yield _Event(0, block=Block(kind="footnote", text=m.group(2).strip(), label=m.group(1)))
            i += 1
        elif LIST_RE.match(line):
            block, i = _list_block(lines, i)
            yield _Event(0, block=block)
        else:
            para.append(line)
            i += 1
    ev = flush()
    if ev:
        yield ev


def _starts_block(lines: list[str], i: int) -> bool:
    """True when line i opens something other than paragraph text (so it also ends a paragraph)."""
    line = lines[i]
    return bool(
        FENCE_RE.match(line)
        or HEADING_RE.match(line)
        or LIST_RE.match(line)
        or line.strip().startswith(("$$", "\\["))
        or _is_table_start(lines, i)
    )


def _list_block(lines: list[str], i: int) -> tuple[Block, int]:
    """Consecutive list lines (continuations and loose blank lines included) as one `list` block."""
    items: list[str] = []
    j = i
    while j < len(lines):
        cur = lines[j]
        if cur.strip():
            if j > i and _starts_block(lines, j) and not LIST_RE.match(cur):
                break
            items.append(cur.rstrip())
            j += 1
        elif j + 1 < len(lines) and (LIST_RE.match(lines[j + 1]) or lines[j + 1].startswith(("  ", "\t"))):
            j += 1
        else:
            break
    return Block(kind="list", text="\n".join(items)), j


def _is_table_start(lines: list[str], i: int) -> bool:
    return (
        "|" in lines[i]
        and i + 1 < len(lines)
        and bool(TABLE_SEP_RE.match(lines[i + 1]))
        and "-" in lines[i + 1]
    )


def _display_math(lines: list[str], i: int) -> tuple[Block, int]:
    """A `$$ ... $$` (or `\\[ ... \\]`) display; a `(3)` or `\\tag{3}` after it becomes the label."""
    first = lines[i].strip()
    open_, close = ("$$", "$$") if first.startswith("$$") else ("\\[", "\\]")
    rest = first[len(open_) :]
    body: list[str] = []
    j = i
    if close in rest:
        inner, after = rest.split(close, 1)
        body.append(inner)
    else:
        body.append(rest)
        j = i + 1
        after = ""
        while j < len(lines):
            if close in lines[j]:
                inner, after = lines[j].split(close, 1)
                body.append(inner)
                break
            body.append(lines[j])
            j += 1
    text = "\n".join(x.strip() for x in body if x.strip())
    label = ""
    tag = re.search(r"\\tag\{([^}]*)\}", text)
    if tag:
        label = f"({tag.group(1)})"
        text = (text[: tag.start()] + text[tag.end() :]).strip()
    elif re.fullmatch(r"\s*\(\s*[\w.]+\s*\)\s*", after):
        label = after.strip()
    return Block(kind="equation", text=text, label=label), j + 1


def _paragraph_block(text: str) -> Block | None:
    text = text.strip()
    if not text:
        return None
    m = CAPTION_RE.match(text)
    if m:
        kind = "Figure" if m.group("kind") == "Fig." else m.group("kind")
        return Block(kind="caption", text=m.group("text").strip(" *_"), label=f"{kind} {m.group('num')}")
    m = LABEL_RE.match(text)
    if m:
        return Block(kind="label", label=m.group("label").strip(), text=m.group("text").strip())
    return Block(kind="paragraph", text=text)


# ---------------------------------------------------------------------------
# Plain text
# ---------------------------------------------------------------------------


def parse_plain_text(text: str, source: str = "") -> Paper:
    """Plain text: the first line is the title, blank lines separate paragraphs, headings are guessed."""
    lines = text.split("\n")
    start = next((k for k, x in enumerate(lines) if x.strip()), None)
    if start is None:
        raise PaperParseError(f"{source or 'text'}: the file is empty")
    title = lines[start].strip()
    events: list[_Event] = []
    paragraphs = re.split(r"\n[ \t]*\n", "\n".join(lines[start + 1 :]))
    for para in paragraphs:
        plines = [x.strip() for x in para.split("\n") if x.strip()]
        while plines and _text_heading(plines[0]):
            events.append(_Event(_text_heading(plines[0]), title=plines[0].rstrip(":")))
            plines = plines[1:]
        if not plines:
            continue
        first = plines[0]
        inline_abstract = re.match(r"^abstract\s*[.:—–-]\s*(.+)$", first, re.I)
        if inline_abstract and not any(ev.block is None for ev in events):
            events.append(_Event(1, title="Abstract"))
            plines[0] = inline_abstract.group(1)
        joined = " ".join(plines)
        if joined.startswith("$$") and joined.endswith("$$") and len(joined) > 4:
            events.append(_Event(0, block=Block(kind="equation", text=joined[2:-2].strip())))
        elif _in_references(events):  # keep line breaks: each reference is usually its own line
            events.append(_Event(0, block=Block(kind="paragraph", text="\n".join(plines))))
        else:
            events.append(_Event(0, block=Block(kind="paragraph", text=joined)))
    asm = _Assembler(title=title, source_format="text", source=source)
    return asm.run(events)


def _in_references(events: list[_Event]) -> bool:
    last = next((ev for ev in reversed(events) if ev.block is None), None)
    return last is not None and last.title.lower().rstrip(":") in REFERENCE_NAMES


def _text_heading(line: str) -> int:
    """Heading level of a plain-text line (0 = not a heading): numbered and short, or a known name."""
    s = line.strip()
    if s.lower().rstrip(":") in KNOWN_HEADINGS:
        return 1
    if len(s) > 80 or s.endswith((".", ",", ";")) and not re.match(r"^[A-Z]\.\s", s):
        return 0
    number, title = split_number(s)
    if not number or not title[:1].isupper() or len(title.split()) > 12:
        return 0
    top = number.split(".")[0]
    if top.isdigit() and int(top) > 30:  # "2017 was..." or "100 samples" are sentences, not sections
        return 0
    if re.search(r"[=<>]|\d{3,}", title):
        return 0
    return number.count(".") + 1
