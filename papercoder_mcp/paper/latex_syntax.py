"""LaTeX syntax helpers: escapes, brace and bracket arguments, environment ends, top-level splits.

Regexes cannot match nested braces, and titles, captions and footnotes routinely nest
them, so these walk characters.
"""

from __future__ import annotations

import functools
import re


def is_escaped(s: str, i: int) -> bool:
    """True when s[i] follows an odd number of backslashes (`\\%` is a percent sign, `\\\\%` a comment)."""
    n = 0
    j = i - 1
    while j >= 0 and s[j] == "\\":
        n += 1
        j -= 1
    return n % 2 == 1


# Above this length a string's brace pairs are computed once and cached, so unbalanced
# braces in a large body cannot make every argument lookup rescan to the end of the text.
_TABLE_MIN = 4096


def group_end(s: str, i: int) -> int:
    """Index just past the `}` matching the `{` at s[i], or -1 when the braces never balance."""
    if len(s) > _TABLE_MIN:
        return _brace_table(s).get(i, -1)
    depth = 0
    j = i
    n = len(s)
    while j < n:
        c = s[j]
        if c == "\\":
            j += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return -1


@functools.lru_cache(maxsize=8)
def _brace_table(s: str) -> dict[int, int]:
    pairs: dict[int, int] = {}
    stack: list[int] = []
    j = 0
    n = len(s)
    while j < n:
        c = s[j]
        if c == "\\":
            j += 2
            continue
        if c == "{":
            stack.append(j)
        elif c == "}" and stack:
            pairs[stack.pop()] = j + 1
        j += 1
    return pairs


def skip_space(s: str, i: int) -> int:
    """Skip the whitespace LaTeX skips before an argument, but never a blank line (a paragraph break)."""
    j = i
    newlines = 0
    while j < len(s) and s[j] in " \t\n":
        newlines += s[j] == "\n"
        j += 1
    return i if newlines >= 2 else j


def read_arg(s: str, i: int) -> tuple[str, int] | None:
    """Read a `{...}` argument at or after i; None when there is none."""
    j = skip_space(s, i)
    if j < len(s) and s[j] == "{":
        end = group_end(s, j)
        if end > 0:
            return s[j + 1 : end - 1], end
    return None


def read_opt(s: str, i: int) -> tuple[str, int] | None:
    """Read a `[...]` optional argument starting at i (after spaces); brackets inside braces do not count."""
    j = i
    while j < len(s) and s[j] in " \t":
        j += 1
    if j >= len(s) or s[j] != "[":
        return None
    depth = 0
    k = j + 1
    # An optional argument is short (ICML's \\twocolumn[...] title block is the longest seen);
    # the bound keeps a stray "[" from costing a scan to the end of the document.
    stop = min(len(s), j + 20_000)
    while k < stop:
        c = s[k]
        if c == "\\":
            k += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == "]" and depth <= 0:
            return s[j + 1 : k], k + 1
        k += 1
    return None


def read_args(s: str, i: int, n: int, opts: bool = True) -> tuple[list[str], int]:
    """Read optional `[...]` arguments wherever they appear and up to n required ones; returns (required, end)."""
    args: list[str] = []
    j = i
    while True:
        if opts:
            opt = read_opt(s, j)
            if opt is not None:
                j = opt[1]
                continue
        if len(args) >= n:
            return args, j
        arg = read_arg(s, j)
        if arg is None:
            return args, j
        args.append(arg[0])
        j = arg[1]


def env_end(s: str, name: str, start: int) -> tuple[int, int] | None:
    """(start of `\\end{name}`, index past it) for an environment whose body starts at `start`."""
    if len(s) > _TABLE_MIN:
        table = _env_table(s, name)
        if start in table:
            return table[start]
    pat = re.compile(r"\\(begin|end)\s*\{" + re.escape(name) + r"\}")
    depth = 1
    for m in pat.finditer(s, start):
        if is_escaped(s, m.start()):
            continue
        depth += 1 if m.group(1) == "begin" else -1
        if depth == 0:
            return m.start(), m.end()
    return None


@functools.lru_cache(maxsize=64)
def _env_table(s: str, name: str) -> dict[int, tuple[int, int] | None]:
    """Every `\\begin{name}` body start mapped to its `\\end{name}` span (None when unclosed)."""
    table: dict[int, tuple[int, int] | None] = {}
    stack: list[int] = []
    for m in re.finditer(r"\\(begin|end)\s*\{" + re.escape(name) + r"\}", s):
        if is_escaped(s, m.start()):
            continue
        if m.group(1) == "begin":
            stack.append(m.end())
        elif stack:
            table[stack.pop()] = (m.start(), m.end())
    for start in stack:
        table[start] = None
    return table


def find_unescaped(s: str, token: str, start: int) -> int:
    """Index of the next `token` not preceded by a backslash, or -1."""
    j = s.find(token, start)
    while j >= 0 and is_escaped(s, j):
        j = s.find(token, j + 1)
    return j


def split_top(s: str, sep: str) -> list[str]:
    """Split on `\\\\` (sep="row") or `&` (sep="cell") outside braces and nested environments."""
    parts: list[str] = []
    brace = 0
    env = 0
    last = 0
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            if s.startswith("\\begin", i):
                env += 1
            elif s.startswith("\\end", i):
                env -= 1
            elif sep == "row" and brace == 0 and env <= 0:
                if s.startswith("\\\\", i) or s.startswith("\\tabularnewline", i):
                    parts.append(s[last:i])
                    i += 2 if s.startswith("\\\\", i) else len("\\tabularnewline")
                    if i < n and s[i] == "*":
                        i += 1
                    opt = read_opt(s, i)
                    if opt is not None:
                        i = opt[1]
                    last = i
                    continue
            i += 2
            continue
        if c == "{":
            brace += 1
        elif c == "}":
            brace -= 1
        elif c == "&" and sep == "cell" and brace == 0 and env <= 0:
            parts.append(s[last:i])
            last = i + 1
        i += 1
    parts.append(s[last:])
    return parts


def remove_macros(s: str, spec: dict[str, int]) -> str:
    """Delete `\\name[opt]{arg}...` calls for the names in spec (name -> number of required arguments)."""
    if not spec:
        return s
    pat = re.compile(
        r"\\(" + "|".join(re.escape(k) for k in sorted(spec, key=len, reverse=True)) + r")(?![a-zA-Z])\*?"
    )
    out: list[str] = []
    i = 0
    for m in pat.finditer(s):
        if m.start() < i or is_escaped(s, m.start()):
            continue
        out.append(s[i : m.start()])
        j = m.end()
        if m.group(1) == "cmidrule" and j < len(s) and s[j] == "(":
            close = s.find(")", j)
            j = close + 1 if close > 0 else j
        _, i = read_args(s, j, spec[m.group(1)])
    out.append(s[i:])
    return "".join(out)


def normalize_ws(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()
