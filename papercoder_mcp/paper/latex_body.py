"""The document body walked once, left to right, into sections and blocks.

Sectioning commands open sections, environments become blocks (equations, captions,
tables, lists, code), and the text between them is cut into paragraphs at blank lines
and converted by `LatexConverter`.
"""

from __future__ import annotations

import re

from papercoder_mcp.paper.latex_macros import ENV_ARGS, LIST_ENVS, MATH_ENVS
from papercoder_mcp.paper.latex_refs import Labels, Target, bibitem_labels, labels_in
from papercoder_mcp.paper.latex_syntax import (
    env_end,
    find_unescaped,
    is_escaped,
    read_arg,
    read_args,
    read_opt,
    remove_macros,
    split_top,
)
from papercoder_mcp.paper.latex_text import LatexConverter, clean_math, tabular_to_markdown
from papercoder_mcp.paper.markdown import SectionStack
from papercoder_mcp.paper.models import Block, Caption, Equation, Table

# fmt: off
FLOAT_KINDS = {
    "figure": "figure", "figure*": "figure", "wrapfigure": "figure", "sidewaysfigure": "figure",
    "table": "table", "table*": "table", "wraptable": "table", "sidewaystable": "table",
    "algorithm": "algorithm", "algorithm*": "algorithm",
}
# fmt: on
TABULAR_ENVS = {"tabular", "tabular*", "tabularx", "tabulary", "longtable", "supertabular"}
# fmt: off
CODE_ENVS = {
    "verbatim", "verbatim*", "Verbatim", "lstlisting", "minted", "algorithmic", "algorithmicx",
    "algpseudocode",
}
# fmt: on
SUBFLOAT_ENVS = {"subfigure", "subtable"}
ACK_ENVS = {"ack", "acks", "acknowledgments", "acknowledgements", "acknowledgment", "acknowledgement"}
# fmt: off
THEOREMS = {
    "theorem": "Theorem", "lemma": "Lemma", "proposition": "Proposition", "corollary": "Corollary",
    "definition": "Definition", "proof": "Proof", "remark": "Remark", "example": "Example",
    "assumption": "Assumption", "claim": "Claim", "conjecture": "Conjecture", "observation": "Observation",
}
# fmt: on
# Rows of these are numbered one by one; the others carry one number for the whole display.
MULTIROW_MATH = {"align", "gather", "flalign", "alignat", "eqnarray"}
# fmt: off
ALIGNED = {
    "align": "aligned", "flalign": "aligned", "alignat": "aligned", "eqnarray": "aligned",
    "gather": "gathered", "multline": "gathered",
}
# fmt: on
CAPTION_NAMES = {"figure": "Figure", "table": "Table", "algorithm": "Algorithm"}

TOKEN_RE = re.compile(
    r"\\(?P<sec>part|chapter|section|subsection|subsubsection|paragraph|subparagraph)(?![a-zA-Z])(?P<star>\*?)"
    r"|\\(?P<appendix>appendix)(?![a-zA-Z])"
    r"|\\begin\s*\{(?P<env>[^}]*)\}"
    r"|\\end\s*\{(?P<endenv>[^}]*)\}"
    r"|\\(?P<cap>captionof|caption)(?![a-zA-Z])\*?"
    r"|\\(?P<bib>bibliography|printbibliography)(?![a-zA-Z])"
    r"|\\(?P<lab>label)(?![a-zA-Z])"
    r"|(?P<display>\\\[|\$\$)"
    r"|(?P<inline>\$|\\\()"
    r"|(?P<brace>[{}])"
    r"|(?P<blank>\n[ \t]*\n)"
)


def paragraphs(s: str, conv: LatexConverter) -> str:
    paras = (conv.to_text(p) for p in re.split(r"\n[ \t]*\n", s))
    return "\n\n".join(p for p in paras if p)


def bibitems(inner: str, conv: LatexConverter) -> list[str]:
    refs: list[str] = []
    starts = [m for m in re.finditer(r"\\bibitem(?![a-zA-Z])", inner) if not is_escaped(inner, m.start())]
    for k, m in enumerate(starts):
        stop = starts[k + 1].start() if k + 1 < len(starts) else len(inner)
        j = m.end()
        opt = read_opt(inner, j)
        if opt is not None:
            j = opt[1]
        key_arg = read_arg(inner, j)
        key = ""
        if key_arg is not None:
            key, j = key_arg[0].strip(), key_arg[1]
        text = conv.to_text(inner[j:stop])
        if text:
            refs.append(f"[{key}] {text}" if key else text)
    return refs


def biblatex_entries(bbl: str) -> list[str]:
    """A biblatex .bbl has no prose, only fields; keep key, title and year so citations stay traceable."""
    refs: list[str] = []
    for m in re.finditer(r"\\entry\{([^}]*)\}", bbl):
        stop = bbl.find("\\endentry", m.end())
        chunk = bbl[m.end() : stop if stop > 0 else len(bbl)]
        fields = {
            f.group(1): f.group(2)
            for f in re.finditer(r"\\field\{(title|year|journaltitle|booktitle)\}\{([^{}]*)\}", chunk)
        }
        families = re.findall(r"family=\{([^{}]*)\}", chunk)
        parts = [
            ", ".join(families),
            fields.get("title", ""),
            fields.get("journaltitle") or fields.get("booktitle", ""),
            fields.get("year", ""),
        ]
        text = ". ".join(p for p in parts if p)
        refs.append(f"[{m.group(1)}] {text}".strip())
    return refs


class BodyWalker:
    """One pass over the document body, feeding a SectionStack and collecting floats and equations."""

    def __init__(self, conv: LatexConverter, theorems: dict[str, str], has_chapters: bool) -> None:
        self.conv = conv
        self.theorems = {**THEOREMS, **theorems}
        self.stack = SectionStack()
        self.levels = (
            ["chapter", "section", "subsection", "subsubsection"]
            if has_chapters
            else ["section", "subsection", "subsubsection"]
        )
        self.counters = [0] * len(self.levels)
        self.appendix = False
        self.buf: list[str] = []
        self.depth = 0
        self.pending_label: str | None = None
        self.float_kind: str | None = None
        self.float_captions: list[Caption] = []
        self.float_tables: list[tuple[Table, Block]] = []
        self.in_subfloat = 0
        self.counts = {"figure": 0, "table": 0, "algorithm": 0}
        self.eq_no = 0
        self.abstract = ""
        self.captions: list[Caption] = []
        self.tables: list[Table] = []
        self.equations: list[Equation] = []
        self.references: list[str] = []
        self.bib_commands: list[str] = []
        # Cross-references: what each \label numbers, what the next \label would number (LaTeX's
        # \@currentlabel), labels met in a float before its caption, and citation labels by key.
        self.labels = Labels()
        self.current: Target | None = None
        self.float_pending: list[str] | None = None
        self.citations: dict[str, str] = {}

    # -- the scan ------------------------------------------------------------------------------

    def walk(self, s: str) -> None:
        i = 0
        while True:
            m = TOKEN_RE.search(s, i)
            if m is None:
                self.buf.append(s[i:])
                return
            p = m.start()
            if s[p] in "\\${}" and is_escaped(s, p):
                self.buf.append(s[i : p + 1])
                i = p + 1
                continue
            self.buf.append(s[i:p])
            i = self._token(m, s)

    def _token(self, m: re.Match[str], s: str) -> int:
        if m.group("blank"):
            if self.depth == 0:
                self.flush()
            else:
                self.buf.append("\n")
            return m.end()
        if m.group("brace"):
            self.depth = self.depth + 1 if m.group("brace") == "{" else max(0, self.depth - 1)
            self.buf.append(m.group("brace"))
            return m.end()
        if m.group("inline"):
            close = "$" if m.group("inline") == "$" else "\\)"
            end = find_unescaped(s, close, m.end())
            if end < 0:
                self.buf.append(m.group(0))
                return m.end()
            self.buf.append(s[m.start() : end + len(close)])
            return end + len(close)
        if m.group("display"):
            close = "$$" if m.group("display") == "$$" else "\\]"
            end = find_unescaped(s, close, m.end())
            if end < 0:
                self.buf.append(m.group(0))
                return m.end()
            self._equation("displaymath", s[m.end() : end])
            return end + len(close)
        if m.group("sec"):
            return self._section(m.group("sec"), bool(m.group("star")), s, m.end())
        if m.group("appendix"):
            self.flush()
            self.appendix = True
            self.counters = [0] * len(self.levels)
            return m.end()
        if m.group("env") is not None:
            return self._environment(m.group("env").strip(), s, m.end())
        if m.group("endenv") is not None:  # an \end whose \begin was outside the body (or unbalanced)
            return m.end()
        if m.group("cap"):
            return self._caption(m.group("cap"), s, m.end())
        if m.group("lab"):
            arg = read_arg(s, m.end())
            if arg is None:
                return m.end()
            self._label(arg[0])
            return arg[1]
        if m.group("bib"):
            args, end = read_args(s, m.end(), 1 if m.group("bib") == "bibliography" else 0)
            self.bib_commands.append(f"\\bibliography{{{args[0]}}}" if args else "\\printbibliography")
            return end
        return m.end()

    # -- paragraphs and blocks -----------------------------------------------------------------

    def flush(self) -> None:
        raw = "".join(self.buf)
        self.buf = []
        self.depth = 0
        if not raw.strip():
            return
        if self.float_kind == "figure":  # text in a figure is graphics labels, not prose
            return
        text = self.conv.to_text(raw)
        if not text:
            return
        if self.pending_label is not None:
            self.stack.add(Block(kind="label", label=self.pending_label, text=text))
            self.pending_label = None
        else:
            self.stack.add(Block(kind="paragraph", text=text))

    def add(self, block: Block) -> None:
        self.flush()
        if self.pending_label is not None:
            self.stack.add(Block(kind="label", label=self.pending_label, text=""))
            self.pending_label = None
        self.stack.add(block)

    def finish(self) -> None:
        self.flush()
        if self.pending_label is not None:
            self.stack.add(Block(kind="label", label=self.pending_label, text=""))
            self.pending_label = None

    def _label(self, key: str) -> None:
        if self.float_pending is not None:
            self.float_pending.append(key)  # bound to the float's number once its caption is read
        else:
            self.labels.define(key, self.current)

    # -- sectioning ----------------------------------------------------------------------------

    def _section(self, cmd: str, starred: bool, s: str, j: int) -> int:
        opt = read_opt(s, j)
        if opt is not None:
            j = opt[1]
        arg = read_arg(s, j)
        if arg is None:  # a bare \section without a title: not a heading we can use
            return j
        title = self.conv.to_text(remove_macros(arg[0], {"label": 1, "footnote": 1, "thanks": 1}))
        self.finish()
        if cmd in ("paragraph", "subparagraph", "part") or cmd not in self.levels:
            # Run-in headings stay with their paragraph, as the paper prints them.
            self.pending_label = title if re.search(r"[.:?!]$", title) else f"{title}."
            return arg[1]
        k = self.levels.index(cmd)
        number = ""
        if not starred:
            self.counters[k] += 1
            for x in range(k + 1, len(self.counters)):
                self.counters[x] = 0
            parts = [str(c) for c in self.counters[: k + 1]]
            if self.appendix:
                parts[0] = _alph(self.counters[0])
            number = ".".join(parts)
            self.current = Target("section", number, title)
        for key in labels_in(arg[0]):
            self.labels.define(key, self.current if number else None)
        self.stack.heading(title, number, k + 1)
        return arg[1]

    # -- environments --------------------------------------------------------------------------

    def _environment(self, env: str, s: str, start: int) -> int:
        span = env_end(s, env, start)
        if span is None:  # unclosed: treat the \begin as transparent and read on
            return start
        inner = s[start : span[0]]
        base = env.rstrip("*")
        if env in ("document", "subequations", "appendices", "frontmatter") or base in (
            "center",
            "flushleft",
            "flushright",
        ):
            if env == "appendices":
                self.flush()
                self.appendix = True
                self.counters = [0] * len(self.levels)
            self.walk(inner)
        elif env == "abstract":
            if not self.abstract:
                self.flush()
                self.abstract = paragraphs(inner, self.conv)
        elif base in MATH_ENVS:
            self._equation(env, inner)
        elif env in FLOAT_KINDS:
            self._float(FLOAT_KINDS[env], _skip_env_args(env, inner))
        elif env in SUBFLOAT_ENVS:
            self.in_subfloat += 1
            self.walk(_skip_env_args(env, inner))
            self.in_subfloat -= 1
        elif env in TABULAR_ENVS:
            self._tabular(env, _skip_env_args(env, inner))
        elif env in LIST_ENVS:
            md = self.conv.list_markdown(env, inner)
            if md:
                self.add(Block(kind="list", text=md))
        elif env in CODE_ENVS:
            code = _skip_env_args(env, inner).strip("\n")
            if code.strip():
                self.add(Block(kind="code", text=_dedent(code)))
        elif env == "thebibliography":
            self.flush()
            self.references.extend(bibitems(_skip_env_args(env, inner), self.conv))
            self.citations.update(bibitem_labels(_skip_env_args(env, inner)))
        elif env in ACK_ENVS:
            self.finish()
            self.stack.heading("Acknowledgements", "", 1)
            self.walk(inner)
        elif env in self.theorems or base in self.theorems:
            self.finish()
            opt = read_opt(inner, 0)
            name = self.theorems.get(env) or self.theorems[base]
            label = f"{name} ({self.conv.to_text(opt[0])})." if opt else f"{name}."
            self.pending_label = label
            # Theorems are not numbered here, so their labels keep their keys.
            saved, self.current = self.current, None
            self.walk(inner[opt[1] :] if opt else inner)
            self.current = saved
            self.finish()
        elif env == "comment":
            pass
        else:
            self.walk(_skip_env_args(env, inner))
        return span[1]

    def _equation(self, env: str, inner: str) -> None:
        base = env.rstrip("*")
        numbered = not env.endswith("*") and base not in ("displaymath", "math")
        if base == "alignat":
            inner = inner[read_args(inner, 0, 1)[1] :]  # drop the column count
        rows = [r for r in split_top(inner, "row") if r.strip()] if base in MULTIROW_MATH else [inner]
        labels: list[str] = []
        for row in rows:
            tag = re.search(r"\\tag\*?\s*\{([^}]*)\}", row)
            number = ""
            if tag:
                number = tag.group(1).strip()
            elif numbered and not re.search(r"\\(nonumber|notag)(?![a-zA-Z])", row):
                self.eq_no += 1
                number = str(self.eq_no)
            if number:
                labels.append(f"({number})")
            for key in labels_in(row):
                self.labels.define(key, Target("equation", number) if number else None)
        text = clean_math(inner)
        if not text:
            return
        if base in ALIGNED:
            # Row-aligned displays become aligned/gathered so the source still renders inside $$.
            text = f"\\begin{{{ALIGNED[base]}}}\n{text}\n\\end{{{ALIGNED[base]}}}"
        label = labels[0] if len(labels) == 1 else f"{labels[0]}-{labels[-1]}" if labels else ""
        self.add(Block(kind="equation", text=text, label=label))
        self.equations.append(Equation(text=text, label=label))

    def _float(self, kind: str, inner: str) -> None:
        self.flush()
        saved = (self.float_kind, self.float_captions, self.float_tables)
        self.float_kind, self.float_captions, self.float_tables = kind, [], []
        # Inside a float \label refers to its caption's number; after it, to the section again.
        saved_ref, saved_pending = self.current, self.float_pending
        self.float_pending = []
        self.walk(inner)
        for key in self.float_pending or []:  # labels with no caption after them
            self.labels.define(key, self.current if self.current is not saved_ref else None)
        self.current, self.float_pending = saved_ref, saved_pending
        self.flush()
        table_caps = [c for c in self.float_captions if c.kind == "table"]
        for k, (table, block) in enumerate(self.float_tables):
            if not table.number and table_caps:
                cap = table_caps[k] if k < len(table_caps) else table_caps[-1]
                table.number, table.caption = cap.number, cap.text
                block.label = f"Table {cap.number}"
        self.float_kind, self.float_captions, self.float_tables = saved

    def _caption(self, cmd: str, s: str, j: int) -> int:
        kind = self.float_kind or "figure"
        if cmd == "captionof":
            arg = read_arg(s, j)
            if arg is None:
                return j
            kind = "table" if arg[0].strip() == "table" else "figure"
            j = arg[1]
        opt = read_opt(s, j)
        if opt is not None:
            j = opt[1]
        arg = read_arg(s, j)
        if arg is None:
            return j
        if self.in_subfloat:  # sub-captions "(a) ..." belong to the figure's own caption
            return arg[1]
        self.flush()
        kind = kind if kind in self.counts else "figure"
        self.counts[kind] += 1
        number = str(self.counts[kind])
        text = self.conv.to_text(remove_macros(arg[0], {"label": 1}))
        target = Target(kind, number)  # type: ignore[arg-type]
        self.current = target
        for key in [*(self.float_pending or []), *labels_in(arg[0])]:
            self.labels.define(key, target)
        self.float_pending = None  # labels after the caption name it directly
        cap = Caption(kind=kind, number=number, text=text)
        self.captions.append(cap)
        self.float_captions.append(cap)
        label = f"{CAPTION_NAMES[kind]} {number}"
        self.add(Block(kind="caption", text=f"{label}: {text}", label=label))
        return arg[1]

    def _tabular(self, env: str, inner: str) -> None:
        if env == "longtable":  # a longtable carries its own caption between rows
            for m in list(re.finditer(r"\\caption(?![a-zA-Z])", inner)):
                saved = self.float_kind
                self.float_kind = "table"
                self._caption("caption", inner, m.end())
                self.float_kind = saved
            inner = remove_macros(inner, {"caption": 1})
        md = tabular_to_markdown(inner, self.conv)
        if not md:
            return
        table = Table(markdown=md)
        if self.float_kind == "table" or env == "longtable":
            caps = [c for c in self.float_captions if c.kind == "table"]
            if len(caps) > len(self.float_tables):
                cap = caps[len(self.float_tables)]
                table.number, table.caption = cap.number, cap.text
        block = Block(
            kind="table", text=md, markdown=md, label=f"Table {table.number}" if table.number else ""
        )
        self.add(block)
        self.tables.append(table)
        self.float_tables.append((table, block))


def _skip_env_args(env: str, inner: str) -> str:
    """Body of an environment without its opening arguments (`[t]`, `{0.5\\textwidth}`, `{lccc}`)."""
    return inner[read_args(inner, 0, ENV_ARGS.get(env, 0))[1] :]


def _dedent(code: str) -> str:
    lines = code.split("\n")
    indents = [len(x) - len(x.lstrip()) for x in lines if x.strip()]
    cut = min(indents) if indents else 0
    return "\n".join(x[cut:].rstrip() for x in lines)


def _alph(n: int) -> str:
    """LaTeX's \\Alph for appendix numbers, extended past Z as AA, AB, ... instead of failing."""
    out = ""
    while n > 0:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out or "0"
