"""Calls into other generated modules must fit the callee's signature (argument count, keyword names).

Only calls whose target is certain are checked: a name imported from a generated
module (`from model import Net`) or an attribute of an imported generated module
(`model.Net(...)`), not rebound anywhere in the calling module. Callees whose
signature a decorator or metaclass may change are skipped.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from papercoder_mcp.verify.index import Module, RepoIndex
from papercoder_mcp.verify.models import Finding

# Decorators that keep the wrapped function's signature.
_TRANSPARENT = {"no_grad", "inference_mode", "enable_grad", "lru_cache", "cache", "wraps", "jit", "compile"}
_DATACLASS_OPTS = {"frozen", "eq", "order", "repr", "unsafe_hash", "init", "slots"}


@dataclass
class Signature:
    name: str
    where: str  # "file.py:line" of the definition
    positional: list[str]  # may be passed by position (self/cls dropped)
    positional_only: int  # how many of `positional` cannot be passed by keyword
    required_positional: int
    keyword_only: list[str]
    required_keyword: set[str]
    varargs: bool
    varkw: bool


def check_signatures(index: RepoIndex) -> list[Finding]:
    findings: list[Finding] = []
    for mod in index.modules.values():
        names, mods = _bindings(index, mod)
        if not names and not mods:
            continue
        for node in ast.walk(mod.tree):
            if not isinstance(node, ast.Call):
                continue
            target = _resolve(index, node.func, names, mods)
            if target is None:
                continue
            sig = _signature(index, *target)
            if sig is None:
                continue
            problem = _mismatch(node, sig)
            if problem:
                findings.append(
                    Finding(
                        file=mod.path,
                        line=node.lineno,
                        kind="signature_mismatch",
                        severity="error",
                        message=f"{problem} (defined at {sig.where})",
                        detail=ast.get_source_segment(mod.source, node) or "",
                    )
                )
    return findings


def _bindings(index: RepoIndex, mod: Module) -> tuple[dict[str, tuple[Module, ast.AST]], dict[str, Module]]:
    names: dict[str, tuple[Module, ast.AST]] = {}
    mods: dict[str, Module] = {}
    for rec in mod.imports:
        if rec.is_from:
            base = index.by_name.get(rec.module) if rec.module else None
            for orig, asname in rec.names:
                sub = index.by_name.get(f"{rec.module}.{orig}" if rec.module else orig)
                if sub is not None:
                    mods[asname or orig] = sub
                elif base is not None:
                    hit = index.lookup(base, orig)
                    if hit is not None:
                        names[asname or orig] = hit
        else:
            target = index.by_name.get(rec.module)
            if rec.asname and target is not None:
                mods[rec.asname] = target
            elif not rec.asname:
                top = index.by_name.get(rec.module.split(".", 1)[0])
                if top is not None:
                    mods[rec.module.split(".", 1)[0]] = top
                if target is not None:
                    mods[rec.module] = target
    # A name rebound anywhere in the module (assignment, parameter, loop) may not be the import.
    rebound: set[str] = set()
    for node in ast.walk(mod.tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            rebound.add(node.id)
        elif isinstance(node, ast.arg):
            rebound.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            rebound.add(node.name)
    return (
        {k: v for k, v in names.items() if k not in rebound},
        {k: v for k, v in mods.items() if k.split(".", 1)[0] not in rebound},
    )


def _dotted(expr: ast.expr) -> str | None:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        base = _dotted(expr.value)
        return f"{base}.{expr.attr}" if base else None
    return None


def _resolve(
    index: RepoIndex, func: ast.expr, names: dict[str, tuple[Module, ast.AST]], mods: dict[str, Module]
) -> tuple[Module, ast.AST] | None:
    if isinstance(func, ast.Name):
        return names.get(func.id)
    dotted = _dotted(func)
    if not dotted or "." not in dotted:
        return None
    owner, attr = dotted.rsplit(".", 1)
    mod = mods.get(owner)
    if mod is None:
        # `import pkg` then `pkg.sub.f()`: find the module by its full dotted name.
        root = mods.get(owner.split(".", 1)[0])
        mod = index.by_name.get(root.name + owner[len(owner.split(".", 1)[0]) :]) if root else None
    if mod is None:
        return None
    return index.lookup(mod, attr)


def _decorator_name(dec: ast.expr) -> str:
    if isinstance(dec, ast.Call):
        dec = dec.func
    if isinstance(dec, ast.Attribute):
        return dec.attr
    return dec.id if isinstance(dec, ast.Name) else ""


def _signature(index: RepoIndex, mod: Module, node: ast.AST, depth: int = 0) -> Signature | None:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        if any(_decorator_name(d) not in _TRANSPARENT for d in node.decorator_list):
            return None
        return _from_args(node.name, f"{mod.path}:{node.lineno}", node.args, drop_first=False)
    if not isinstance(node, ast.ClassDef) or depth > 5 or node.keywords:
        return None  # a metaclass or class keywords may change construction
    where = f"{mod.path}:{node.lineno}"
    body = {s.name: s for s in node.body if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef)}
    if "__new__" in body or "__call__" in {_decorator_name(d) for d in node.decorator_list}:
        return None
    decorators = [_decorator_name(d) for d in node.decorator_list]
    if decorators:
        if decorators == ["dataclass"] and not node.bases and _plain_dataclass(node.decorator_list[0]):
            return _dataclass_signature(node, where)
        return None
    init = body.get("__init__")
    if init is not None:
        if init.decorator_list:
            return None
        return _from_args(node.name, where, init.args, drop_first=True)
    if not node.bases:
        return Signature(node.name, where, [], 0, 0, [], set(), False, False)
    if len(node.bases) == 1:
        base = node.bases[0]
        if isinstance(base, ast.Name):
            if base.id == "object":
                return Signature(node.name, where, [], 0, 0, [], set(), False, False)
            hit = index.lookup(mod, base.id)
            if hit is not None:
                inherited = _signature(index, hit[0], hit[1], depth + 1)
                if inherited is not None:
                    inherited.name = node.name
                return inherited
    return None  # a base we cannot see (nn.Module, Exception, ...) defines the constructor


def _plain_dataclass(dec: ast.expr) -> bool:
    if not isinstance(dec, ast.Call):
        return True
    return (
        not dec.args
        and all(k.arg in _DATACLASS_OPTS for k in dec.keywords)
        and not any(k.arg == "init" for k in dec.keywords)
    )


def _dataclass_signature(node: ast.ClassDef, where: str) -> Signature | None:
    fields: list[str] = []
    required = 0
    for stmt in node.body:
        if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
            continue
        ann = ast.unparse(stmt.annotation)
        if "KW_ONLY" in ann:
            return None
        if "ClassVar" in ann:
            continue  # not a field
        if stmt.value is None:
            if len(fields) > required:
                return None  # a non-default after a default is itself an error at class creation
            required += 1
        elif isinstance(stmt.value, ast.Call) and _decorator_name(stmt.value) == "field":
            kws = {k.arg for k in stmt.value.keywords}
            if "init" in kws or "kw_only" in kws:
                return None
            if not ({"default", "default_factory"} & kws) and len(fields) == required:
                required += 1
        fields.append(stmt.target.id)
    return Signature(node.name, where, fields, 0, required, [], set(), False, False)


def _from_args(name: str, where: str, args: ast.arguments, *, drop_first: bool) -> Signature:
    positional = [a.arg for a in args.posonlyargs + args.args]
    n_posonly = len(args.posonlyargs)
    required = len(positional) - len(args.defaults)
    if drop_first and positional:
        positional = positional[1:]
        n_posonly = max(0, n_posonly - 1)
        required = max(0, required - 1)
    kwonly = [a.arg for a in args.kwonlyargs]
    req_kw = {a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is None}
    return Signature(
        name,
        where,
        positional,
        n_posonly,
        required,
        kwonly,
        req_kw,
        args.vararg is not None,
        args.kwarg is not None,
    )


def _mismatch(call: ast.Call, sig: Signature) -> str:
    star = any(isinstance(a, ast.Starred) for a in call.args)
    dstar = any(k.arg is None for k in call.keywords)
    n = len(call.args)
    if not star and not sig.varargs and n > len(sig.positional):
        return f"{sig.name}() takes {len(sig.positional)} positional argument(s) but {n} were given"
    by_keyword = sig.positional[sig.positional_only :] + sig.keyword_only
    given = set(sig.positional[:n]) if not star else set()
    for k in call.keywords:
        if k.arg is None:
            continue
        if k.arg not in by_keyword and not sig.varkw:
            return f"{sig.name}() got an unexpected keyword argument {k.arg!r}"
        if k.arg in given:
            return f"{sig.name}() got multiple values for argument {k.arg!r}"
    if star or dstar:
        return ""
    passed = given | {k.arg for k in call.keywords if k.arg}
    missing = [p for p in sig.positional[: sig.required_positional] if p not in passed]
    missing += sorted(sig.required_keyword - passed)
    if missing:
        return f"{sig.name}() is missing required argument(s): {', '.join(missing)}"
    return ""
