"""Placeholders: functions that were left as stubs although the design needs them to work.

Flagged: bodies that are only `pass` / `...` / a docstring, bodies that only
raise NotImplementedError, and an unconditional `raise NotImplementedError` in a
function's own body. A TODO-style comment is flagged only inside a function the
design's logic text names (`must_work`), since generated code carries harmless
TODOs elsewhere. Not flagged: abstract methods, overloads, protocol and ABC
bodies, methods of a class that another generated class subclasses (the base
hook pattern), dunder methods with an empty body, and a NotImplementedError
raised in one branch for an unsupported option.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize

from papercoder_mcp.verify.index import Module, RepoIndex
from papercoder_mcp.verify.models import Finding

_ABSTRACT = {"abstractmethod", "abstractproperty", "abstractclassmethod", "abstractstaticmethod", "overload"}
_ABSTRACT_BASES = {"ABC", "Protocol", "ABCMeta", "Generic"}
_TODO = re.compile(r"\b(TODO|FIXME|XXX)\b|implement (this|me)|your code here|placeholder", re.IGNORECASE)

Func = ast.FunctionDef | ast.AsyncFunctionDef


def check_placeholders(index: RepoIndex, must_work: dict[str, str] | None) -> list[Finding]:
    subclassed: set[str] = set()
    for mod in index.modules.values():
        for node in ast.walk(mod.tree):
            if isinstance(node, ast.ClassDef):
                for b in node.bases:
                    name = b.attr if isinstance(b, ast.Attribute) else b.id if isinstance(b, ast.Name) else ""
                    subclassed.add(name)
    findings: list[Finding] = []
    for mod in index.modules.values():
        design = (must_work or {}).get(mod.path)
        findings += _check_module(mod, subclassed, design)
    return findings


def _base_names(cls: ast.ClassDef) -> set[str]:
    out = set()
    for b in [*cls.bases, *(k.value for k in cls.keywords)]:
        if isinstance(b, ast.Subscript):
            b = b.value
        out.add(b.attr if isinstance(b, ast.Attribute) else b.id if isinstance(b, ast.Name) else "")
    return out


def _functions(tree: ast.Module) -> list[tuple[Func, ast.ClassDef | None]]:
    out: list[tuple[Func, ast.ClassDef | None]] = []

    def visit(node: ast.AST, cls: ast.ClassDef | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, child)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                out.append((child, cls))
                visit(child, None)
            else:
                visit(child, cls)

    visit(tree, None)
    return out


def _is_not_implemented(stmt: ast.stmt) -> bool:
    if not isinstance(stmt, ast.Raise) or stmt.exc is None:
        return False
    exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def _strip_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if isinstance(body[0].value.value, str):
            return body[1:]
    return body


def _is_empty(body: list[ast.stmt]) -> bool:
    return all(
        isinstance(s, ast.Pass)
        or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and s.value.value is ...)
        for s in body
    )


def _can_leave(stmt: ast.stmt) -> bool:
    return any(isinstance(n, ast.Return | ast.Yield | ast.YieldFrom | ast.Raise) for n in ast.walk(stmt))


def _todo_comments(source: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT and _TODO.search(tok.string):
                out.append((tok.start[0], tok.string))
    except (tokenize.TokenError, SyntaxError):
        pass
    return out


def _named_in(name: str, design: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", design) is not None


def _decorator_name(node: ast.expr) -> str:
    """`@x`, `@x(...)`, `@a.x`, `@a.x(...)` -> 'x'."""
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute):
        return target.attr
    return getattr(target, "id", "")


def _check_module(mod: Module, subclassed: set[str], design: str | None) -> list[Finding]:
    findings: list[Finding] = []
    comments = _todo_comments(mod.source) if design else []
    functions = _functions(mod.tree)
    for fn, cls in functions:
        decorators = {_decorator_name(d) for d in fn.decorator_list}
        if decorators & _ABSTRACT:
            continue
        hook = cls is not None and (cls.name in subclassed or bool(_base_names(cls) & _ABSTRACT_BASES))
        body = _strip_docstring(fn.body)
        what = f"{cls.name}.{fn.name}" if cls else fn.name
        problem = ""
        line = fn.lineno
        if _is_empty(body):
            if not hook and not (fn.name.startswith("__") and fn.name.endswith("__")):
                problem = f"{what}() has no body (only pass, ... or a docstring)"
        elif len(body) == 1 and _is_not_implemented(body[0]):
            if not hook:
                problem = f"{what}() only raises NotImplementedError"
        else:
            for i, stmt in enumerate(body):
                # Only when nothing before it can leave the function: `if ...: return x` then
                # `raise NotImplementedError(name)` is the unsupported-option pattern.
                if _is_not_implemented(stmt) and not any(_can_leave(s) for s in body[:i]):
                    problem, line = f"{what}() raises NotImplementedError unconditionally", stmt.lineno
                    break
        if not problem and design and _named_in(fn.name, design):
            inner = [(f.lineno, f.end_lineno or f.lineno) for f, _ in functions if f is not fn]
            for cline, text in comments:
                if fn.lineno <= cline <= (fn.end_lineno or fn.lineno) and not any(
                    fn.lineno < a <= cline <= b for a, b in inner
                ):
                    problem, line = f"{what}() is marked unfinished: {text.strip()}", cline
                    break
        if problem:
            findings.append(
                Finding(
                    file=mod.path,
                    line=line,
                    kind="placeholder",
                    severity="warning",
                    message=problem + (" although the design says it must do work" if design else ""),
                )
            )
    return findings
