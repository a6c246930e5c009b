"""A parsed view of the generated Python files that every static check shares.

Each file is parsed once with `ast` (never imported). A file is known under the
dotted names Python could import it by: relative to the repository root, and
relative to the entry point's directory (which is `sys.path[0]` when the user
runs `python src/main.py`). Directories holding Python files are packages
(namespace packages need no `__init__.py`).
"""

from __future__ import annotations

import ast
import posixpath
from dataclasses import dataclass, field

from papercoder_mcp.errors import LimitExceeded
from papercoder_mcp.limits import AST_LOCK, parse_python
from papercoder_mcp.verify.models import Finding

_IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


@dataclass
class ImportRecord:
    line: int
    module: str  # absolute dotted name (relative imports resolved); "" for `from . import x` at the root
    names: list[tuple[str, str | None]]  # (name, asname) of a from-import; empty for `import m`
    is_from: bool
    level: int
    import_time: bool  # runs when the importing module is imported (not in a def, not TYPE_CHECKING)
    guarded: bool  # inside `try: ... except ImportError` or `if TYPE_CHECKING:`: absence is tolerated
    asname: str | None = None  # for `import m as x`
    climbs_out: bool = False  # a relative import beyond the top-level package


@dataclass
class Module:
    path: str
    name: str  # root-relative dotted name
    package: str  # the package relative imports start from
    tree: ast.Module
    source: str
    defined: dict[str, ast.AST] = field(default_factory=dict)  # top-level bindings
    open_namespace: bool = False  # `from x import *` or a module __getattr__: any name may exist
    imports: list[ImportRecord] = field(default_factory=list)


def module_name(path: str) -> str:
    stem = path[:-3] if path.endswith(".py") else path
    parts = stem.split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


class RepoIndex:
    """Every parsable generated Python file, by path and by every name it can be imported as."""

    def __init__(self, files: dict[str, str], entry_point: str = "") -> None:
        self.modules: dict[str, Module] = {}
        self.by_name: dict[str, Module] = {}
        self.packages: set[str] = set()
        self.syntax_findings: list[Finding] = []
        self.unparsable: set[str] = set()  # dotted names of files that do not compile
        self.lines = 0
        entry_dir = posixpath.dirname(entry_point) if entry_point else ""
        prefixes = [""] + ([entry_dir.replace("/", ".") + "."] if entry_dir else [])
        for path in sorted(p for p in files if p.endswith(".py")):
            source = files[path]
            self.lines += source.count("\n") + 1
            name = module_name(path)
            aliases = [name] + [name[len(p) :] for p in prefixes if p and name.startswith(p)]
            parts = name.split(".")
            for n in range(1, len(parts) if not path.endswith("__init__.py") else len(parts) + 1):
                pkg = ".".join(parts[:n])
                self.packages.add(pkg)
                for p in prefixes:
                    if p and pkg.startswith(p):
                        self.packages.add(pkg[len(p) :])
            tree = self._parse(path, source)
            if tree is None:
                self.unparsable.update(aliases)
                continue
            package = name if path.endswith("__init__.py") else ".".join(parts[:-1])
            mod = Module(path=path, name=name, package=package, tree=tree, source=source)
            _collect_definitions(mod)
            _collect_imports(mod)
            self.modules[path] = mod
            for alias in aliases:
                self.by_name.setdefault(alias, mod)

    def _parse(self, path: str, source: str) -> ast.Module | None:
        try:
            tree = parse_python(source, path, filename=path)
            # compile() also runs the symbol-table checks ast.parse skips ('return' outside a function,
            # misplaced nonlocal); it creates a code object but runs nothing.
            with AST_LOCK:
                compile(tree, path, "exec", dont_inherit=True)
        except SyntaxError as exc:
            self.syntax_findings.append(
                Finding(
                    file=path,
                    line=exc.lineno,
                    kind="syntax_error",
                    severity="error",
                    message=f"{path} does not compile: {exc.msg}",
                    detail=(exc.text or "").rstrip(),
                )
            )
            return None
        except (ValueError, RecursionError, MemoryError, LimitExceeded) as exc:  # NUL bytes, absurd nesting
            self.syntax_findings.append(
                Finding(file=path, line=None, kind="syntax_error", severity="error", message=str(exc))
            )
            return None
        return tree

    # -- resolution -----------------------------------------------------------

    def is_generated(self, dotted: str) -> bool:
        """Whether `dotted` names a generated module or package (possibly one that does not compile)."""
        return dotted in self.by_name or dotted in self.packages or dotted in self.unparsable

    def owns_top(self, dotted: str) -> bool:
        """Whether the first component is a generated module or package: then the rest must exist too."""
        return self.is_generated(dotted.split(".", 1)[0])

    def lookup(self, mod: Module, name: str, depth: int = 0) -> tuple[Module, ast.AST] | None:
        """The definition `name` refers to in `mod`, following re-exports between generated modules."""
        node = mod.defined.get(name)
        if node is None or depth > 8:
            return None
        if isinstance(node, ast.ImportFrom):
            for rec in mod.imports:
                if rec.line == node.lineno and rec.is_from:
                    for orig, asname in rec.names:
                        if (asname or orig) == name:
                            target = self.by_name.get(rec.module)
                            if target is not None and target is not mod:
                                return self.lookup(target, orig, depth + 1)
            return None
        return mod, node


def _targets(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Tuple | ast.List):
        return [n for elt in node.elts for n in _targets(elt)]
    if isinstance(node, ast.Starred):
        return _targets(node.value)
    return []


def _top_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements that run at module level, descending into if/try/with/for/while blocks."""
    out: list[ast.stmt] = []
    for stmt in body:
        out.append(stmt)
        if isinstance(stmt, ast.If | ast.For | ast.While | ast.AsyncFor):
            out += _top_statements(stmt.body) + _top_statements(stmt.orelse)
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            out += _top_statements(stmt.body)
        elif isinstance(stmt, ast.Try | ast.TryStar):
            out += _top_statements(stmt.body) + _top_statements(stmt.orelse) + _top_statements(stmt.finalbody)
            for h in stmt.handlers:
                out += _top_statements(h.body)
    return out


def _collect_definitions(mod: Module) -> None:
    d = mod.defined
    for stmt in _top_statements(mod.tree.body):
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            d[stmt.name] = stmt
            if stmt.name == "__getattr__":
                mod.open_namespace = True
        elif isinstance(stmt, ast.Assign):
            for t in stmt.targets:
                for n in _targets(t):
                    d.setdefault(n, stmt)
        elif isinstance(stmt, ast.AnnAssign | ast.AugAssign):
            for n in _targets(stmt.target):
                d.setdefault(n, stmt)
        elif isinstance(stmt, ast.For | ast.AsyncFor):
            for n in _targets(stmt.target):
                d.setdefault(n, stmt)
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            for item in stmt.items:
                if item.optional_vars is not None:
                    for n in _targets(item.optional_vars):
                        d.setdefault(n, stmt)
        elif isinstance(stmt, ast.Import):
            for a in stmt.names:
                d.setdefault(a.asname or a.name.split(".", 1)[0], stmt)
        elif isinstance(stmt, ast.ImportFrom):
            for a in stmt.names:
                if a.name == "*":
                    mod.open_namespace = True
                else:
                    d.setdefault(a.asname or a.name, stmt)
    # `global x` in a function creates a top-level x when the function runs.
    for node in ast.walk(mod.tree):
        if isinstance(node, ast.Global):
            for n in node.names:
                d.setdefault(n, node)
        elif isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            d.setdefault(node.target.id, node)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _catches_import_error(handlers: list[ast.ExceptHandler]) -> bool:
    for h in handlers:
        if h.type is None:
            return True
        types = h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]
        if any(isinstance(t, ast.Name) and t.id in _IMPORT_ERRORS for t in types):
            return True
    return False


def _absolute(mod: Module, level: int, module: str | None) -> str | None:
    if level == 0:
        return module or ""
    parts = mod.package.split(".") if mod.package else []
    if level - 1 > len(parts):
        return None
    base = parts[: len(parts) - (level - 1)]
    if module:
        base.append(module)
    return ".".join(base)


def _collect_imports(mod: Module) -> None:
    def visit(stmts: list[ast.stmt], import_time: bool, guarded: bool) -> None:
        for stmt in stmts:
            if isinstance(stmt, ast.Import):
                for a in stmt.names:
                    mod.imports.append(
                        ImportRecord(stmt.lineno, a.name, [], False, 0, import_time, guarded, a.asname)
                    )
            elif isinstance(stmt, ast.ImportFrom):
                target = _absolute(mod, stmt.level, stmt.module)
                names = [(a.name, a.asname) for a in stmt.names]
                rec = ImportRecord(stmt.lineno, target or "", names, True, stmt.level, import_time, guarded)
                rec.climbs_out = target is None
                mod.imports.append(rec)
            elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(stmt.body, False, guarded)
            elif isinstance(stmt, ast.ClassDef):
                visit(stmt.body, import_time, guarded)
            elif isinstance(stmt, ast.If):
                tc = _is_type_checking(stmt.test)
                visit(stmt.body, import_time and not tc, guarded or tc)
                visit(stmt.orelse, import_time, guarded)
            elif isinstance(stmt, ast.Try | ast.TryStar):
                visit(stmt.body, import_time, guarded or _catches_import_error(stmt.handlers))
                for h in stmt.handlers:
                    visit(h.body, import_time, guarded)
                visit(stmt.orelse, import_time, guarded)
                visit(stmt.finalbody, import_time, guarded)
            elif isinstance(stmt, ast.For | ast.AsyncFor | ast.While):
                visit(stmt.body, import_time, guarded)
                visit(stmt.orelse, import_time, guarded)
            elif isinstance(stmt, ast.With | ast.AsyncWith):
                visit(stmt.body, import_time, guarded)
            elif isinstance(stmt, ast.Match):
                for case in stmt.cases:
                    visit(case.body, import_time, guarded)

    visit(mod.tree.body, True, False)
