"""Import checks: generated modules and names exist, no import-time cycles, requirements.txt fits."""

from __future__ import annotations

from dataclasses import dataclass

from papercoder_mcp.verify.index import ImportRecord, Module, RepoIndex
from papercoder_mcp.verify.models import Finding
from papercoder_mcp.verify.requirements_map import (
    IMPLICITLY_USED,
    distributions_for,
    is_known_package,
    is_stdlib,
    requirement_name,
)
from papercoder_mcp.verify.test_strength import is_test_file


@dataclass
class _Edge:
    target: str  # path of the imported generated module
    line: int
    is_from: bool


def check_imports(index: RepoIndex, requirements: list[str]) -> list[Finding]:
    findings: list[Finding] = []
    required = {n for n in (requirement_name(r) for r in requirements) if n}
    used: set[str] = set()
    for mod in index.modules.values():
        reported: set[str] = set()
        for rec in mod.imports:
            findings += _check_record(index, mod, rec, required, used, reported)
    findings += _cycles(index)
    if index.unparsable:
        return findings  # a file that does not parse may import any listed package
    # The runner of the repository's tests needs no import: plain `assert` tests are run by pytest.
    has_tests = any(is_test_file(p) for p in index.modules)
    for i, req in enumerate(requirements, start=1):
        name = requirement_name(req)
        runner = has_tests and name is not None and (name == "pytest" or name.startswith("pytest-"))
        if name and name not in used and name not in IMPLICITLY_USED and not runner:
            findings.append(
                Finding(
                    file="requirements.txt",
                    line=i,
                    kind="unused_requirement",
                    severity="warning",
                    message=f"requirements.txt lists {req.strip()!r}, which no generated file imports",
                )
            )
    return findings


def _missing(mod: Module, rec: ImportRecord, what: str) -> Finding:
    return Finding(
        file=mod.path,
        line=rec.line,
        kind="missing_module",
        severity="error",
        message=f"{mod.path} imports {what}, which is not a generated file",
    )


def _check_record(
    index: RepoIndex, mod: Module, rec: ImportRecord, required: set[str], used: set[str], reported: set[str]
) -> list[Finding]:
    if rec.climbs_out:
        return [_missing(mod, rec, f"a relative module ({'.' * rec.level}) above the repository root")]
    if not rec.is_from or rec.module:
        dotted = rec.module
        if index.is_generated(dotted):
            return _check_names(index, mod, rec) if rec.is_from else []
        if index.owns_top(dotted) or rec.level:
            return [_missing(mod, rec, f"module {dotted!r}")]
        return _external(mod, rec, dotted, required, used, reported)
    # `from . import x` in a root-level file: each x is a top-level module.
    return [_missing(mod, rec, f"module {n!r}") for n, _ in rec.names if not index.is_generated(n)]


def _check_names(index: RepoIndex, mod: Module, rec: ImportRecord) -> list[Finding]:
    out: list[Finding] = []
    if rec.module in index.unparsable:
        return out  # its syntax error is reported; what it defines is unknown
    target = index.by_name.get(rec.module)
    for name, _ in rec.names:
        if name == "*" or index.is_generated(f"{rec.module}.{name}"):
            continue
        if target is None:  # a namespace package: only submodules can be imported from it
            out.append(_missing(mod, rec, f"module '{rec.module}.{name}'"))
        elif not target.open_namespace and name not in target.defined:
            out.append(
                Finding(
                    file=mod.path,
                    line=rec.line,
                    kind="undefined_name",
                    severity="error",
                    message=f"{mod.path} imports {name!r} from {target.path}, which defines no top-level {name!r}",
                )
            )
    return out


def _external(
    mod: Module, rec: ImportRecord, dotted: str, required: set[str], used: set[str], reported: set[str]
) -> list[Finding]:
    if is_stdlib(dotted):
        return []
    dists = distributions_for(dotted)
    used.update(dists)
    if rec.guarded or any(d in required for d in dists) or dists[0] in reported:
        return []
    reported.add(dists[0])
    if is_known_package(dotted):
        return [
            Finding(
                file=mod.path,
                line=rec.line,
                kind="missing_requirement",
                severity="error",
                message=f"{mod.path} imports {dotted!r} but requirements.txt does not list {dists[0]!r}",
                detail=dists[0],  # the distribution to add; the repair loop reads it
            )
        ]
    return [
        Finding(
            file=mod.path,
            line=rec.line,
            kind="missing_module",
            severity="error",
            message=(
                f"{mod.path} imports {dotted!r}, which is neither a generated file, the standard library, "
                "nor listed in requirements.txt"
            ),
        )
    ]


def _edges(index: RepoIndex, mod: Module) -> list[_Edge]:
    out: list[_Edge] = []
    for rec in mod.imports:
        if not rec.import_time or rec.climbs_out:
            continue
        parts = rec.module.split(".") if rec.module else []
        # Importing a.b.c runs a, a.b and a.b.c.
        names = [".".join(parts[:n]) for n in range(1, len(parts) + 1)]
        if rec.is_from:
            names += [f"{rec.module}.{n}" if rec.module else n for n, _ in rec.names]
        for name in names:
            target = index.by_name.get(name)
            if target is not None and target is not mod:
                out.append(_Edge(target.path, rec.line, rec.is_from))
    return out


def _cycles(index: RepoIndex) -> list[Finding]:
    """One finding per strongly connected group of modules that import each other at import time."""
    graph = {path: _edges(index, mod) for path, mod in index.modules.items()}
    findings: list[Finding] = []
    for scc in _sccs({p: [e.target for e in es] for p, es in graph.items()}):
        if len(scc) < 2:
            continue
        members = set(scc)
        first = min(scc)
        cycle = _cycle_path(graph, first, members)
        edge = next(e for e in graph[first] if e.target == cycle[1])
        # `from a import x` during a's own import fails; plain `import a` cycles only fail when
        # module-level code uses the half-initialised module, so they are a warning.
        strict = any(e.is_from for p in scc for e in graph[p] if e.target in members)
        findings.append(
            Finding(
                file=first,
                line=edge.line,
                kind="circular_import",
                severity="error" if strict else "warning",
                message="circular import at import time: " + " -> ".join(cycle),
            )
        )
    return findings


def _cycle_path(graph: dict[str, list[_Edge]], start: str, members: set[str]) -> list[str]:
    prev: dict[str, str] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for e in graph[node]:
            if e.target == start:
                path = [node]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                return [*reversed(path), start]
            if e.target in members and e.target not in prev:
                prev[e.target] = node
                queue.append(e.target)
    return [start, start]


def _sccs(graph: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively (generated repos can be deep)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in graph:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(graph[nxt])))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    n = stack.pop()
                    on_stack.discard(n)
                    comp.append(n)
                    if n == node:
                        break
                out.append(comp)
    return out
