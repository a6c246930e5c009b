"""Caps on untrusted text, checked before it is parsed, so a small hostile input cannot hold a worker.

A 0.5 KB YAML alias bomb expands to gigabytes, 100 KB of brackets recurses past Python's stack,
and every parser here (json, ast, yaml, the fence scanner) is at best linear in its input. So an
answer's size and nesting depth are measured by a linear scan first, YAML aliases are refused,
and RecursionError is turned into an ordinary validation error wherever parsing happens. Each
refusal names its cap.
"""

from __future__ import annotations

import ast
import json
import threading
from typing import Any

import yaml

from papercoder_mcp.errors import LimitExceeded

# The largest output budget a stage gets is ~64k tokens (~256k characters); twice that is no answer.
MAX_ANSWER_CHARS = 512_000
MAX_JSON_DEPTH = 64
MAX_CODE_DEPTH = 100  # CPython's own parser stops at 200 parentheses and 100 indentation levels
# `1+1+...+1` nests one BinOp per operator with no bracket: ast's C code recurses through them, and on
# CPython 3.11 a RecursionError there can leave the thread's depth counter wrong for every later parse.
MAX_OPERATORS_PER_STATEMENT = 500
MAX_YAML_CHARS = 256_000
MAX_PAPER_CHARS = 8_000_000  # an edited paper (Markdown or the Paper JSON): long papers run to ~1M


def check_answer_size(text: str, what: str = "the answer") -> None:
    if len(text) > MAX_ANSWER_CHARS:
        raise LimitExceeded(
            f"{what} is {len(text):,} characters, over the cap of {MAX_ANSWER_CHARS:,} (MAX_ANSWER_CHARS)"
        )


def check_paper_size(text: str, what: str = "the paper") -> None:
    if len(text) > MAX_PAPER_CHARS:
        raise LimitExceeded(
            f"{what} is {len(text):,} characters, over the cap of {MAX_PAPER_CHARS:,} (MAX_PAPER_CHARS)"
        )


def json_depth(text: str) -> int:
    """The deepest `[`/`{` nesting of JSON text, strings skipped (one linear pass, no parsing)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def check_json_depth(text: str, what: str) -> None:
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise LimitExceeded(
            f"{what} nests JSON {depth} levels deep, over the cap of {MAX_JSON_DEPTH} (MAX_JSON_DEPTH)"
        )


def load_json(text: str, what: str = "the answer") -> Any:
    """json.loads behind the size and depth caps; a too-deep or too-big document is LimitExceeded."""
    check_answer_size(text, what)
    check_json_depth(text, what)
    try:
        return json.loads(text)
    except RecursionError as exc:  # the depth scan should make this unreachable; never let it escape
        raise LimitExceeded(f"{what} nests too deeply to parse (MAX_JSON_DEPTH)") from exc


def python_depth(code: str) -> int:
    """The deeper of bracket nesting and indentation levels, comments and strings roughly skipped.

    Rough on purpose: it runs before ast on text that may be hostile, must be linear, and only
    has to tell a plausible program from a nesting bomb."""
    return _scan(code)[0]


def _scan(code: str) -> tuple[int, int]:
    depth = deepest = 0
    operators = most_operators = 0
    indents: list[int] = [0]
    quote = ""
    i, n = 0, len(code)
    at_line_start = True
    while i < n:
        ch = code[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if code.startswith(quote, i):
                i += len(quote)
                quote = ""
                continue
            if ch == "\n" and len(quote) == 1:
                quote = ""
            i += 1
            continue
        if at_line_start and depth == 0:
            j = i
            while j < n and code[j] in " \t":
                j += 1
            if j < n and code[j] not in "\n#":
                width = code[i:j].expandtabs(8).__len__()
                while width < indents[-1]:
                    indents.pop()
                if width > indents[-1]:
                    indents.append(width)
                deepest = max(deepest, len(indents) - 1)
            i = j
            at_line_start = False
            continue
        if ch == "#":
            nl = code.find("\n", i)
            i = n if nl < 0 else nl
            continue
        if ch in "\"'":
            quote = code[i : i + 3] if code.startswith(ch * 3, i) else ch
            i += len(quote)
            continue
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch in "+-*/%|&^@~":
            operators += 1
            most_operators = max(most_operators, operators)
        elif ch == "\n":
            at_line_start = True
            if depth == 0:
                operators = 0
        i += 1
    return deepest, most_operators


def check_python(code: str, what: str) -> None:
    """Size and nesting caps for Python source, before ast or compile() see it."""
    check_answer_size(code, what)
    depth, operators = _scan(code)
    if depth > MAX_CODE_DEPTH:
        raise LimitExceeded(
            f"{what} nests {depth} levels deep (brackets or indentation), over the cap of "
            f"{MAX_CODE_DEPTH} (MAX_CODE_DEPTH)"
        )
    if operators > MAX_OPERATORS_PER_STATEMENT:
        raise LimitExceeded(
            f"{what} has {operators} operators in one statement, over the cap of "
            f"{MAX_OPERATORS_PER_STATEMENT} (MAX_OPERATORS_PER_STATEMENT)"
        )


# CPython 3.11 keeps the AST constructor's recursion depth in interpreter-wide state, so two threads
# converting ASTs at once (stages and verification run in worker threads) can fail with a spurious
# "SystemError: AST constructor recursion depth mismatch" (cpython gh-106905). Every conversion
# between source, C and Python ASTs here holds this lock; each takes milliseconds.
AST_LOCK = threading.Lock()


def parse_python(code: str, what: str = "the code", filename: str = "<unknown>") -> ast.Module:
    """`ast.parse` behind the caps: raises SyntaxError, or LimitExceeded for what no parser should see."""
    check_python(code, what)
    try:
        with AST_LOCK:
            return ast.parse(code, filename=filename)
    except (RecursionError, MemoryError, SystemError) as exc:  # the caps should make this unreachable
        raise LimitExceeded(f"{what} is too deeply nested to parse: {exc}") from exc
    except ValueError as exc:  # NUL bytes
        raise LimitExceeded(f"{what} cannot be parsed: {exc}") from exc


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses `*alias` references: a handful of them expand exponentially."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None,
                None,
                "YAML aliases (*name) are refused here (a few of them can expand to gigabytes); "
                "write the values out",
                event.start_mark,
            )
        return super().compose_node(parent, index)


def load_yaml(text: str, what: str = "the YAML") -> Any:
    """yaml.safe_load without aliases, behind a size cap; raises yaml.YAMLError (or LimitExceeded)."""
    if len(text) > MAX_YAML_CHARS:
        raise LimitExceeded(
            f"{what} is {len(text):,} characters, over the cap of {MAX_YAML_CHARS:,} (MAX_YAML_CHARS)"
        )
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError as exc:
        raise LimitExceeded(f"{what} nests too deeply to parse") from exc
