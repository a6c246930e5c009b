"""Cross-references and citations in LaTeX, resolved the way the typeset paper prints them.

The body is converted in one pass, but a `\\ref` often comes before its `\\label` (and every
`\\cite` before the bibliography), so the converter writes a placeholder and the finished paper
is rewritten once at the end: `\\ref{sec:attention}` becomes `3.2`, `\\eqref{eq:loss}` `(1)`,
`\\autoref{fig:arch}` `Figure 1`, and `\\citep{vaswani2017}` `[Vaswani et al., 2017]` when a
`.bbl` (or `thebibliography`) names the work. What cannot be resolved keeps its key, as before,
and the paper's warnings say so.

Placeholders use private-use characters, which never survive into the paper: every one is
replaced, resolved or not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from papercoder_mcp.paper.latex_syntax import is_escaped, normalize_ws, read_arg, read_opt
from papercoder_mcp.paper.models import Paper

RefKind = Literal["section", "equation", "figure", "table", "algorithm", "item"]

_OPEN, _SEP, _CLOSE = "\ue000", "\ue001", "\ue002"
_PLACEHOLDER_RE = re.compile(f"{_OPEN}([^{_SEP}]*){_SEP}([^{_CLOSE}]*){_CLOSE}")

# How `\autoref` / `\cref` name each kind (hyperref's and cleveref's defaults, capitalised).
KIND_NAMES: dict[str, str] = {
    "section": "Section",
    "equation": "Equation",
    "figure": "Figure",
    "table": "Table",
    "algorithm": "Algorithm",
    "item": "Item",
}
NAMED_REFS = {"autoref", "Autoref", "cref", "Cref", "vref", "Vref", "labelcref"}


def placeholder(command: str, keys: str) -> str:
    """What the converter writes for `\\command{keys}`; `resolve` turns it into text."""
    return f"{_OPEN}{command}{_SEP}{keys}{_CLOSE}"


@dataclass(frozen=True)
class Target:
    kind: RefKind
    number: str
    title: str = ""


@dataclass
class Labels:
    """Every `\\label` met, and what it numbers."""

    targets: dict[str, Target] = field(default_factory=dict)
    unnumbered: set[str] = field(default_factory=set)  # in theorem-like or starred contexts: kept as keys

    def define(self, key: str, target: Target | None) -> None:
        key = key.strip()
        if not key:
            return
        if target is None or not target.number:
            self.unnumbered.add(key)
        else:
            self.targets[key] = target


def labels_in(text: str) -> list[str]:
    """Keys of the `\\label{...}`s in a piece of source (a caption, a heading, an equation row)."""
    keys: list[str] = []
    for m in re.finditer(r"\\label(?![a-zA-Z])", text):
        if is_escaped(text, m.start()):
            continue
        arg = read_arg(text, m.end())
        if arg is not None:
            keys.append(arg[0].strip())
    return keys


# -- citations -----------------------------------------------------------------------------------


def natbib_label(opt: str) -> str:
    """`Vaswani et~al.(2017)` (natbib's bibitem option) as `Vaswani et al., 2017`."""
    text = normalize_ws(opt.replace("~", " ").replace("{", "").replace("}", ""))
    m = re.match(r"(.*?)\s*\((\d{4}[a-z]?)\)\s*(.*)$", text)
    if m:
        authors = m.group(1) or m.group(3)  # the short form (before the year) is what \citep prints
        return f"{authors.strip()}, {m.group(2)}"
    return text


def bibitem_labels(inner: str) -> dict[str, str]:
    """Citation labels by key, from a thebibliography body: natbib's author-year, else the number."""
    out: dict[str, str] = {}
    n = 0
    for m in re.finditer(r"\\bibitem(?![a-zA-Z])", inner):
        if is_escaped(inner, m.start()):
            continue
        n += 1
        j = m.end()
        opt = read_opt(inner, j)
        if opt is not None:
            j = opt[1]
        key = read_arg(inner, j)
        if key is None:
            continue
        out[key[0].strip()] = natbib_label(opt[0]) if opt and opt[0].strip() else str(n)
    return out


def biblatex_labels(bbl: str) -> dict[str, str]:
    """Author-year labels by key from a biblatex .bbl (`\\entry{key}` with family names and a year)."""
    out: dict[str, str] = {}
    for m in re.finditer(r"\\entry\{([^}]*)\}", bbl):
        stop = bbl.find("\\endentry", m.end())
        chunk = bbl[m.end() : stop if stop > 0 else len(bbl)]
        families = re.findall(r"family=\{([^{}]*)\}", chunk)
        year = re.search(r"\\field\{year\}\{([^{}]*)\}", chunk)
        if not families:
            who = m.group(1)
        elif len(families) == 1:
            who = families[0]
        elif len(families) == 2:
            who = f"{families[0]} and {families[1]}"
        else:
            who = f"{families[0]} et al."
        out[m.group(1)] = f"{who}, {year.group(1)}" if year else who
    return out


# -- the rewrite -----------------------------------------------------------------------------------


@dataclass
class Resolution:
    undefined_refs: list[str] = field(default_factory=list)
    unresolved_cites: list[str] = field(default_factory=list)
    cites: int = 0


def resolve(paper: Paper, labels: Labels, citations: dict[str, str]) -> Resolution:
    """Replace every placeholder in the paper's text fields, in place."""
    result = Resolution()
    seen_refs: set[str] = set()
    seen_cites: set[str] = set()

    def one(m: re.Match[str]) -> str:
        command, raw = m.group(1), m.group(2)
        keys = [k.strip() for k in raw.split(",") if k.strip()]
        if command == "cite":
            result.cites += 1
            if not citations:
                return f"[cite: {', '.join(keys)}]"
            shown = []
            for k in keys:
                if k in citations:
                    shown.append(citations[k])
                else:
                    shown.append(k)
                    if k not in seen_cites:
                        seen_cites.add(k)
                        result.unresolved_cites.append(k)
            numeric = all(s.isdigit() for s in shown)
            return "[" + (", " if numeric else "; ").join(shown) + "]"
        texts: list[str] = []
        for k in keys:
            target = labels.targets.get(k)
            if target is None:
                if k not in labels.unnumbered and k not in seen_refs:
                    seen_refs.add(k)
                    result.undefined_refs.append(k)
                texts.append(f"[{k}]")
                continue
            if command == "pageref":
                texts.append(f"[{k}]")  # pages do not exist in source
            elif command == "nameref":
                texts.append(target.title or target.number)
            elif command == "eqref":
                texts.append(f"({target.number})")
            elif command in NAMED_REFS:
                number = f"({target.number})" if target.kind == "equation" else target.number
                texts.append(f"{KIND_NAMES[target.kind]} {number}")
            else:
                texts.append(target.number)
        return ", ".join(texts)

    def rewrite(value: Any) -> Any:
        if isinstance(value, str):
            return _PLACEHOLDER_RE.sub(one, value) if _OPEN in value else value
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        return value

    data = rewrite(paper.model_dump())
    fresh = Paper.model_validate(data)
    for name in Paper.model_fields:
        setattr(paper, name, getattr(fresh, name))
    return result
