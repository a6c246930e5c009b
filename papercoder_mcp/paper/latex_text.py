"""LaTeX inline markup turned into Markdown-ish plain text; lists and tabulars rendered as Markdown.

Math is never touched: `$...$` spans are copied through as LaTeX so a model reads the source.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from papercoder_mcp.errors import PaperParseError
from papercoder_mcp.paper.latex_macros import (
    ACCENTS,
    DROP_ARGS,
    DROP_NOARG,
    ENV_ARGS,
    ESCAPED,
    KEEP_LAST,
    LIST_ENVS,
    MATH_ENVS,
    PLAIN_TEXT,
    REF_NAMES,
    SPACING,
    SWITCH_RE,
    SWITCH_STYLE,
    SYMBOLS,
    WRAP,
    Macro,
)
from papercoder_mcp.paper.latex_refs import placeholder
from papercoder_mcp.paper.latex_syntax import (
    env_end,
    find_unescaped,
    group_end,
    is_escaped,
    normalize_ws,
    read_arg,
    read_args,
    read_opt,
    remove_macros,
    split_top,
)

MAX_MACRO_EXPANSIONS = 200_000


@dataclass
class LatexConverter:
    """Turns inline LaTeX into Markdown-ish text; collects footnotes as it meets them."""

    macros: dict[str, Macro] = field(default_factory=dict)
    footnotes: list[str] = field(default_factory=list)
    # Macros met in prose that are neither defined in the source nor known here, with their counts.
    unknown: dict[str, int] = field(default_factory=dict)
    cite_keys: set[str] = field(default_factory=set)
    expansions: int = 0  # user macros expanded so far, against MAX_MACRO_EXPANSIONS

    def to_text(self, s: str) -> str:
        return normalize_ws(self.convert(s))

    def convert(self, s: str, depth: int = 0) -> str:
        out: list[str] = []
        i = 0
        n = len(s)
        while i < n:
            c = s[i]
            if c == "\\":
                i = self._macro(s, i, out, depth)
            elif c == "$":
                i = self._math(s, i, out)
            elif c == "{":
                end = group_end(s, i)
                if end < 0:  # unbalanced: drop the brace, keep the text
                    i += 1
                    continue
                out.append(self._group(s[i + 1 : end - 1], depth))
                i = end
            elif c == "}":
                i += 1
            elif c == "~":
                out.append(" ")
                i += 1
            elif s.startswith("``", i) or s.startswith("''", i):
                out.append('"')
                i += 2
            elif s.startswith("---", i):
                out.append("—")
                i += 3
            elif s.startswith("--", i):
                out.append("–")
                i += 2
            elif c == "&":  # an alignment tab outside a table we render: a column gap
                out.append(" ")
                i += 1
            else:
                out.append(c)
                i += 1
        return "".join(out)

    def _math(self, s: str, i: int, out: list[str]) -> int:
        if s.startswith("$$", i):
            end = find_unescaped(s, "$$", i + 2)
            if end < 0:
                out.append("$$")
                return i + 2
            out.append(s[i : end + 2])
            return end + 2
        end = find_unescaped(s, "$", i + 1)
        if end < 0:
            out.append("$")
            return i + 1
        out.append(s[i : end + 1])
        return end + 1

    def _group(self, inner: str, depth: int) -> str:
        m = SWITCH_RE.match(inner)
        if m:
            names = re.findall(r"\\([a-zA-Z]+)", m.group(0))
            styles = [SWITCH_STYLE[x] for x in names if x in SWITCH_STYLE]
            if styles:
                return _wrap(self.convert(inner[m.end() :], depth), styles[0])
        return self.convert(inner, depth)

    def _macro(self, s: str, i: int, out: list[str], depth: int) -> int:
        m = re.compile(r"\\([a-zA-Z]+|.)", re.S).match(s, i)
        if m is None:  # a lone backslash at the end
            return i + 1
        name = m.group(1)
        j = m.end()
        if not name.isalpha():
            return self._symbol_macro(s, name, j, out)
        if name in self.macros and depth < 20:
            return self._expand(s, name, j, out, depth)
        if j < len(s) and s[j] == "*" and name not in SYMBOLS:
            j += 1
        if name in ACCENTS and j < len(s) and s[j] in "{ ":
            arg = read_arg(s, j)
            if arg is not None:
                out.append(_accent(self.convert(arg[0], depth + 1), name))
                return arg[1]
        if name in SYMBOLS:
            out.append(SYMBOLS[name])
            return j
        if name in DROP_NOARG:
            return j
        if name in DROP_ARGS:
            if name == "twocolumn":  # ICML wraps the whole title block in \twocolumn[...]
                opt = read_opt(s, j)
                return opt[1] if opt else j
            return read_args(s, j, DROP_ARGS[name])[1]
        if name in ("vskip", "hskip", "kern", "penalty", "hspace", "vspace"):
            dim = re.compile(r"\s*-?\d*\.?\d+\s*(?:pt|mm|cm|em|ex|in|bp|pc|sp|mu)?").match(s, j)
            return dim.end() if dim else j
        if name.startswith("cite") or name.endswith("cite") or name in ("citep", "citet"):
            args, end = read_args(s, j, 1)
            if not args:
                return end
            keys = ",".join(k.strip() for k in args[0].split(",") if k.strip())
            self.cite_keys.update(k for k in keys.split(",") if k)
            out.append(placeholder("cite", keys))  # resolved against the bibliography at the end
            return end
        if name in REF_NAMES:
            args, end = read_args(s, j, 1)
            if args:
                out.append(placeholder(name, args[0]))  # resolved against the labels at the end
            return end
        if name in ("url", "nolinkurl"):
            arg = read_arg(s, j)
            if arg is None:
                return j
            out.append(arg[0].replace("\\%", "%").replace("\\_", "_").replace("\\#", "#"))
            return arg[1]
        if name == "href":
            args, end = read_args(s, j, 2)
            if len(args) == 2:
                out.append(f"[{self.to_text(args[1])}]({args[0]})")
            return end
        if name in ("footnote", "footnotetext"):
            args, end = read_args(s, j, 1)
            if args:
                self.footnotes.append(normalize_ws(self.convert(args[0], depth + 1)))
                if name == "footnote":
                    out.append(f"[^{len(self.footnotes)}]")
            return end
        if name == "ensuremath":
            arg = read_arg(s, j)
            if arg is None:
                return j
            out.append(f"${arg[0]}$")
            return arg[1]
        if name == "verb":
            if j < len(s):
                end = s.find(s[j], j + 1)
                if end > 0:
                    out.append(f"`{s[j + 1 : end]}`")
                    return end + 1
            return j
        if name in ("begin", "end"):
            arg = read_arg(s, j)
            if arg is None:
                return j
            env = arg[0].strip()
            if name == "begin" and env.rstrip("*") in MATH_ENVS:
                span = env_end(s, env, arg[1])
                if span is not None:
                    out.append(f" $${normalize_ws(clean_math(s[arg[1] : span[0]]))}$$ ")
                    return span[1]
            if name == "begin":
                return read_args(s, arg[1], ENV_ARGS.get(env, 0))[1]
            return arg[1]
        if name == "item":
            opt = read_opt(s, j)
            out.append(f" {self.convert(opt[0], depth + 1)} " if opt else " ")
            return opt[1] if opt else j
        if name in WRAP:
            args, end = read_args(s, j, 1)
            if args:
                out.append(_wrap(self.convert(args[0], depth + 1), WRAP[name]))
            return end
        if name == "textsuperscript":
            args, end = read_args(s, j, 1)
            if args:
                out.append("^" + self.convert(args[0], depth + 1))
            return end
        if name in KEEP_LAST:
            args, end = read_args(s, j, KEEP_LAST[name])
            if args:
                out.append(self.convert(args[-1], depth + 1))
            return end
        # Unknown macro (or a PLAIN one): keep the text of its arguments, drop its name.
        if name not in PLAIN_TEXT:
            self.unknown[name] = self.unknown.get(name, 0) + 1
        args, end = read_args(s, j, 9)
        out.append(" ".join(self.convert(a, depth + 1) for a in args))
        return end

    def _symbol_macro(self, s: str, name: str, j: int, out: list[str]) -> int:
        if name == "\\":  # forced line break; `\\*` and `\\[2pt]` take extras
            if j < len(s) and s[j] == "*":
                j += 1
            opt = read_opt(s, j) if j < len(s) and s[j] == "[" else None
            out.append(" ")
            return opt[1] if opt else j
        if name in ESCAPED:
            out.append(name)
            return j
        if name in SPACING:
            out.append(SPACING[name])
            return j
        if name == "(":
            end = find_unescaped(s, "\\)", j)
            if end < 0:
                return j
            out.append(f"${s[j:end]}$")
            return end + 2
        if name == "[":
            end = find_unescaped(s, "\\]", j)
            if end < 0:
                return j
            out.append(f" $${normalize_ws(s[j:end])}$$ ")
            return end + 2
        if name in ACCENTS:
            arg = read_arg(s, j)
            if arg is not None:
                out.append(_accent(self.convert(arg[0]), name))
                return arg[1]
            if j < len(s):
                out.append(_accent(s[j], name))
                return j + 1
        return j

    def _expand(self, s: str, name: str, j: int, out: list[str], depth: int) -> int:
        self.expansions += 1
        if self.expansions > MAX_MACRO_EXPANSIONS:
            # Each macro may use another several times: 4 uses over 12 levels is 16 million.
            raise PaperParseError(
                f"the source's own macros expand more than {MAX_MACRO_EXPANSIONS:,} times "
                f"(MAX_MACRO_EXPANSIONS; \\{name} among them): a macro bomb, refusing it"
            )
        macro = self.macros[name]
        args: list[str] = []
        if macro.default is not None:
            opt = read_opt(s, j)
            args.append(opt[0] if opt else macro.default)
            if opt:
                j = opt[1]
        while len(args) < macro.nargs:
            arg = read_arg(s, j)
            if arg is None:
                break
            args.append(arg[0])
            j = arg[1]
        body = macro.body
        for k, a in enumerate(args, start=1):
            body = body.replace(f"#{k}", a)
        out.append(self.convert(body, depth + 1))
        return j

    # -- block-level helpers that still produce text ------------------------------------------

    def list_markdown(self, env: str, inner: str, indent: int = 0) -> str:
        """An itemize/enumerate/description body as a Markdown list; nested lists are indented."""
        base = env.rstrip("*")
        numbered = base in ("enumerate", "compactenum", "asparaenum", "inparaenum")
        lines: list[str] = []
        pad = " " * indent
        for k, (label, body) in enumerate(_split_items(inner), start=1):
            text_parts: list[str] = []
            nested: list[str] = []
            for kind, payload in _split_nested_lists(body):
                if kind == "text":
                    text_parts.append(payload)
                else:
                    env_name, env_body = payload.split("\0", 1)
                    nested.append(self.list_markdown(env_name, env_body, indent + 2))
            text = self.to_text(" ".join(text_parts))
            if label is not None:
                text = f"**{self.to_text(label)}** {text}".rstrip()
            marker = f"{k}." if numbered else "-"
            lines.append(f"{pad}{marker} {text}".rstrip())
            lines.extend(x for x in nested if x)
        return "\n".join(lines)


def _wrap(text: str, mark: str) -> str:
    t = text.strip()
    return f"{mark}{t}{mark}" if t else ""


def _accent(text: str, name: str) -> str:
    if not text:
        return ""
    return unicodedata.normalize("NFC", text[0] + ACCENTS[name] + text[1:])


def clean_math(s: str) -> str:
    """LaTeX math source without labels and numbering switches, one trimmed line per source line."""
    s = remove_macros(s, {"label": 1, "tag": 1})
    s = re.sub(r"[ \t]*\\(nonumber|notag)(?![a-zA-Z])", "", s)
    lines = [line.strip() for line in s.split("\n")]
    text = "\n".join(line for line in lines if line)
    return re.sub(r"\s*\\\\\s*$", "", text)


def _split_items(inner: str) -> list[tuple[str | None, str]]:
    """`\\item` boundaries at the top level of a list body (items of nested lists stay inside)."""
    items: list[tuple[str | None, str]] = []
    pat = re.compile(r"\\(item(?![a-zA-Z])|begin\s*\{|end\s*\{)")
    depth = 0
    starts: list[int] = []
    for m in pat.finditer(inner):
        if is_escaped(inner, m.start()):
            continue
        tok = m.group(1)
        if tok.startswith("begin"):
            depth += 1
        elif tok.startswith("end"):
            depth -= 1
        elif depth == 0:
            starts.append(m.start())
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(inner)
        body_start = start + len("\\item")
        label: str | None = None
        opt = read_opt(inner, body_start)
        if opt is not None:
            label, body_start = opt
        items.append((label, inner[body_start:end]))
    return items


def _split_nested_lists(body: str) -> list[tuple[str, str]]:
    """Cut an item body into text runs and nested list environments ("env\\0body")."""
    parts: list[tuple[str, str]] = []
    pat = re.compile(r"\\begin\s*\{(" + "|".join(sorted(LIST_ENVS)) + r")\}")
    i = 0
    while True:
        m = pat.search(body, i)
        if m is None or is_escaped(body, m.start()):
            parts.append(("text", body[i:]))
            return parts
        span = env_end(body, m.group(1), m.end())
        if span is None:
            parts.append(("text", body[i:]))
            return parts
        parts.append(("text", body[i : m.start()]))
        parts.append(("list", m.group(1) + "\0" + body[m.end() : span[0]]))
        i = span[1]


# fmt: off
TABLE_RULES: dict[str, int] = {
    "hline": 0, "toprule": 0, "midrule": 0, "bottomrule": 0, "cline": 1, "cmidrule": 1, "specialrule": 3,
    "addlinespace": 0, "morecmidrules": 0, "hhline": 1, "rule": 2, "rowcolor": 1, "arrayrulecolor": 1,
    "endhead": 0, "endfirsthead": 0, "endfoot": 0, "endlastfoot": 0, "noalign": 1, "centering": 0,
    "label": 1, "vspace": 1,
}
# fmt: on


def tabular_to_markdown(inner: str, conv: LatexConverter) -> str:
    """A tabular body as a Markdown pipe table; the first row is the header. Empty string if no cells."""
    body = remove_macros(inner, TABLE_RULES)
    rows: list[list[str]] = []
    for raw_row in split_top(body, "row"):
        if not raw_row.strip():
            continue
        cells: list[str] = []
        for raw_cell in split_top(raw_row, "cell"):
            span, text = _multicolumn(raw_cell)
            cells.append(conv.to_text(text).replace("|", "\\|"))
            cells.extend([""] * (span - 1))
        if any(cells):
            rows.append(cells)
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join([" --- "] * width) + "|"]
    lines.extend("| " + " | ".join(r) + " |" for r in rows[1:])
    return "\n".join(lines)


def _multicolumn(cell: str) -> tuple[int, str]:
    """(columns spanned, cell text) so a `\\multicolumn{2}{c}{BLEU}` keeps the table's columns aligned."""
    m = re.match(r"\s*\\multicolumn(?![a-zA-Z])", cell)
    if not m:
        return 1, cell
    args, end = read_args(cell, m.end(), 3)
    if len(args) < 3:
        return 1, cell
    try:
        span = max(1, int(args[0].strip()))
    except ValueError:
        span = 1
    return span, args[2] + cell[end:]
