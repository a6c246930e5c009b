"""Unwired code: public functions and classes that nothing outside the tests uses.

In a repository that reproduces a paper, everything the paper needs runs from the
entry point. A function the model wrote, maybe tested, but never called (a
`load_pretrained_encoder` the classifier never loads, a third method the
experiment loop leaves out) is a common way for a repository to look complete when it
is not: it passes every other check. Names are matched, not resolved, so a use
anywhere outside the tests (a call, an attribute, an import, a registry string)
counts, and the check errs towards silence.

Not flagged: private (`_x`) and dunder names, decorated functions (a decorator
usually registers them: CLI commands, registries), the entry point's own
definitions, scripts nothing imports (run by their own `if __name__ == "__main__":`;
in a module the code imports, that block is a demo and its calls do not count), and every
name of a module that some file reaches by a computed name (`getattr(module, name)`,
`globals()`, `importlib`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import PurePosixPath

from papercoder_mcp.verify.index import Module, RepoIndex
from papercoder_mcp.verify.models import Finding
from papercoder_mcp.verify.test_strength import is_test_file

_PLAIN_DECORATORS = {"dataclass", "dataclasses.dataclass", "total_ordering", "functools.total_ordering"}


def _is_test_code(path: str) -> bool:
    p = PurePosixPath(path)
    return p.parts[0] in {"tests", "test"} or is_test_file(path) or p.name == "conftest.py"


def _decorator_name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _registered(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> bool:
    return any(_decorator_name(d) not in _PLAIN_DECORATORS for d in node.decorator_list)


def _main_guard(mod: Module) -> ast.If | None:
    for stmt in mod.tree.body:
        if isinstance(stmt, ast.If) and isinstance(stmt.test, ast.Compare):
            names = [stmt.test.left, *stmt.test.comparators]
            if any(isinstance(n, ast.Name) and n.id == "__name__" for n in names):
                return stmt
    return None


def _imported(index: RepoIndex, code: dict[str, Module]) -> set[str]:
    """Paths of the generated modules some other code module imports."""
    out: set[str] = set()
    for path, mod in code.items():
        for rec in mod.imports:
            targets = [rec.module] + [f"{rec.module}.{name}".lstrip(".") for name, _ in rec.names]
            for dotted in targets:
                target = index.by_name.get(dotted)
                if target is not None and target.path != path:
                    out.add(target.path)
    return out


def _module_aliases(index: RepoIndex, mod: Module) -> set[str]:
    """Local names bound to a generated module (`import model as m`, `from pkg import model`)."""
    out: set[str] = set()
    for rec in mod.imports:
        if not rec.is_from:
            if index.is_generated(rec.module):
                out.add(rec.asname or rec.module.split(".", 1)[0])
            continue
        for name, asname in rec.names:
            if index.is_generated(f"{rec.module}.{name}".lstrip(".")):
                out.add(asname or name)
    return out


def _uses(index: RepoIndex, mod: Module, skip: ast.AST | None = None) -> tuple[set[str], bool]:
    """Names the module uses (not the names its own definitions bind; none under `skip`), and whether
    it looks up a generated module's names by a computed string."""
    names: set[str] = set()
    dynamic = False
    aliases = _module_aliases(index, mod)
    skipped = {id(n) for n in ast.walk(skip)} if skip is not None else set()
    for node in ast.walk(mod.tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.ImportFrom):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
            names.add(node.value)  # a registry keyed by the function's name, `__all__`
        elif isinstance(node, ast.Call):
            called = _decorator_name(node.func).rsplit(".", 1)[-1]
            if called == "getattr":
                # getattr(args, key) is everywhere; only a computed name looked up on our own module
                # (or sys.modules[__name__]) could reach a definition.
                if len(node.args) >= 2 and not isinstance(node.args[1], ast.Constant):
                    target = node.args[0]
                    on_module = isinstance(target, ast.Name) and target.id in aliases
                    dynamic |= on_module or isinstance(target, ast.Subscript)
            elif called in {"globals", "vars"}:
                # vars(args) is a namespace's dict; only globals() / vars() / vars(our_module) list ours.
                arg = node.args[0] if node.args else None
                dynamic |= arg is None or (isinstance(arg, ast.Name) and arg.id in aliases)
            elif called in {"import_module", "__import__"}:
                dynamic |= not (node.args and isinstance(node.args[0], ast.Constant))
    return names, dynamic


@dataclass
class Uses:
    """The names the code uses outside the tests, and the names the tests use."""

    code: set[str]
    tests: set[str]
    scripts: set[str]  # paths of modules nothing imports, run by their own `__main__` block


def code_uses(index: RepoIndex, entry_point: str) -> Uses | None:
    """What the repository's code uses, by name; None when some code looks names up by a computed
    string on one of our modules (then any name may be in use)."""
    code = {p: m for p, m in index.modules.items() if not _is_test_code(p)}
    imported = _imported(index, code)
    # A script nothing imports runs its own `__main__` block; in a module the code imports, that block
    # is a demo no command runs, so what only it calls is unwired too.
    scripts = {p for p, m in code.items() if _main_guard(m) is not None and p not in imported}
    uses = Uses(code=set(), tests=set(), scripts=scripts)
    for path, mod in index.modules.items():
        demo = _main_guard(mod) if path in code and path != entry_point and path not in scripts else None
        names, dynamic = _uses(index, mod, demo)
        if path in code:
            if dynamic:
                return None
            uses.code |= names
        else:
            uses.tests |= names
    return uses


def check_unwired(index: RepoIndex, entry_point: str) -> list[Finding]:
    uses = code_uses(index, entry_point)
    if uses is None:
        return []  # a computed lookup could reach any name: say nothing rather than guess
    code = {p: m for p, m in index.modules.items() if not _is_test_code(p)}
    used, tested, scripts = uses.code, uses.tests, uses.scripts
    findings: list[Finding] = []
    for path, mod in sorted(code.items()):
        if path == entry_point or path in scripts or PurePosixPath(path).name == "setup.py":
            continue
        for stmt in mod.tree.body:
            if not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            name = stmt.name
            if name.startswith("_") or _registered(stmt) or name in used:
                continue
            what = "class" if isinstance(stmt, ast.ClassDef) else "function"
            only = "only the tests use it" if name in tested else "nothing uses it"
            findings.append(
                Finding(
                    file=entry_point,
                    kind="unwired",
                    severity="warning",
                    message=(
                        f"{path}:{stmt.lineno} defines the {what} {name}, but {only}: no command of "
                        f"{entry_point} runs it. If the paper's procedure needs it, call it from the command "
                        "that runs that step or experiment; if it is only a helper of the tests, leave "
                        f"{entry_point} as it is"
                    ),
                )
            )
    return findings
