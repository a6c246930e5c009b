"""Config keys the code reads must exist in config.yaml; numbers must load as numbers.

Which variables hold the config is decided conservatively, per function:

- a variable assigned from `yaml.safe_load(...)`, `OmegaConf.load(...)` or a
  `load_config(...)`-style helper holds the whole file: its key paths must exist
  from the root ("strict");
- a parameter named like a config (`config`, `cfg`, `model_config`, ...) and
  `self.config`-style attributes may hold the whole file or any section of it,
  so their key paths must exist below *some* mapping in the file ("anywhere");
- `x = holder["a"]` / `holder.get("a", {})` makes x a holder of that section.

Keys the code writes (`config["device"] = ...`, `setdefault`) or tests with `in`
are not required. A `.get(key, default)` miss is a warning, not an error.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

import yaml

from papercoder_mcp.errors import LimitExceeded
from papercoder_mcp.limits import MAX_YAML_CHARS, load_yaml
from papercoder_mcp.verify.index import Module, RepoIndex
from papercoder_mcp.verify.models import Finding

CONFIG_NAMES = {"config", "cfg", "conf", "configs", "hparams", "configuration"}
_LOADER = re.compile(r"^(load|read|get|parse)_?(config|cfg|yaml|conf)$")
# YAML 1.2 core-schema float that YAML 1.1 (PyYAML) reads as a string (same rule as configfile).
_FLOAT_12 = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)$")


@dataclass(frozen=True)
class Holder:
    prefix: tuple[str, ...]
    strict: bool


@dataclass
class Link:
    key: str | None  # None: not a constant string key
    node: ast.expr
    has_default: bool


def key_chain(expr: ast.expr) -> tuple[ast.expr, list[Link]]:
    """Split `root["a"].get("b", {})["c"]` into its root expression and the links after it."""
    links: list[Link] = []
    cur = expr
    while True:
        if isinstance(cur, ast.Subscript):
            sl = cur.slice
            key = sl.value if isinstance(sl, ast.Constant) and isinstance(sl.value, str) else None
            links.append(Link(key, cur, False))
            cur = cur.value
        elif (
            isinstance(cur, ast.Call)
            and isinstance(cur.func, ast.Attribute)
            and cur.func.attr == "get"
            and 1 <= len(cur.args) <= 2
            and not cur.keywords
        ):
            a = cur.args[0]
            key = a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None
            links.append(Link(key, cur, len(cur.args) == 2))
            cur = cur.func.value
        else:
            break
    links.reverse()
    return cur, links


def _const_keys(links: list[Link]) -> list[Link]:
    out = []
    for link in links:
        if link.key is None:
            break
        out.append(link)
    return out


def holder_name(expr: ast.expr) -> str | None:
    if isinstance(expr, ast.Name):
        return expr.id
    if (
        isinstance(expr, ast.Attribute)
        and isinstance(expr.value, ast.Name)
        and expr.value.id in ("self", "cls")
    ):
        return f"self.{expr.attr}"
    return None


def looks_like_config(name: str) -> bool:
    base = name.removeprefix("self.")
    return base in CONFIG_NAMES or base.endswith(("_config", "_cfg", "_conf"))


def _is_loader(call: ast.expr) -> bool:
    if not isinstance(call, ast.Call):
        return False
    f = call.func
    if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
        if f.value.id == "yaml" and f.attr in ("safe_load", "load", "full_load", "unsafe_load"):
            return True
        if f.value.id == "OmegaConf" and f.attr in ("load", "create"):
            return True
    name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
    return bool(_LOADER.match(name))


# Names that hold a scratch place: what a test writes there and loads back is its own file.
_SCRATCH = {"tmp_path", "tmpdir", "tmp_path_factory", "tempfile", "TemporaryDirectory", "mkdtemp"}
_CONFIG_FILE = "config.yaml"


def _names_other_file(expr: ast.expr, others: set[str]) -> bool:
    """Whether `expr` (a path, or YAML text) is some file other than config.yaml: inline YAML text,
    a literal path to another file, or anything built from a scratch directory or from a name that
    already holds another file. A path that cannot be told (a parameter, say) is config.yaml."""
    for node in ast.walk(expr):
        if isinstance(node, ast.Name) and (node.id in _SCRATCH or node.id in others):
            return True
        if isinstance(node, ast.Attribute) and node.attr in _SCRATCH:
            return True
    last = expr
    while isinstance(last, ast.Call | ast.BinOp | ast.Attribute):
        if isinstance(last, ast.BinOp):  # ROOT / "configs" / "smoke.yaml": the last part names it
            last = last.right
        elif isinstance(last, ast.Call):  # open(X), Path(X), X.read_text()
            last = last.args[0] if last.args else last.func
        else:
            last = last.value
    if isinstance(last, ast.Constant) and isinstance(last.value, str):
        text = last.value
        if "\n" in text or ": " in text:
            return True  # YAML given inline
        base = text.replace("\\", "/").rsplit("/", 1)[-1]
        return base.endswith((".yaml", ".yml", ".json")) and base != _CONFIG_FILE
    return False


def _loads_other_file(call: ast.Call, others: set[str]) -> bool:
    arg = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg), None)
    return arg is not None and _names_other_file(arg, others)


class _Tree:
    """The parsed config and every mapping in it (where an 'anywhere' path may start)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.root = data
        self.mappings: list[dict[str, Any]] = []
        stack: list[Any] = [data]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                self.mappings.append(node)
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)

    @staticmethod
    def walk(start: Any, keys: list[str]) -> int:
        """How many keys resolve from `start`; len(keys) also when a non-mapping ends the walk early."""
        node = start
        for i, k in enumerate(keys):
            if not isinstance(node, dict):
                return len(keys)  # null or a list: the code may handle it; not a key error
            if k not in node:
                return i
            node = node[k]
        return len(keys)

    def missing_at(self, holder: Holder, keys: list[str]) -> int | None:
        full = list(holder.prefix) + keys
        if holder.strict:
            n = self.walk(self.root, full)
            return None if n == len(full) else n - len(holder.prefix)
        best = max(self.walk(m, full) for m in self.mappings)
        return None if best == len(full) else max(0, best - len(holder.prefix))


def check_config(index: RepoIndex, config_yaml: str) -> tuple[list[Finding], dict[str, Any] | None]:
    if len(config_yaml) > MAX_YAML_CHARS:
        return [
            Finding(
                file="config.yaml",
                kind="syntax_error",
                severity="error",
                message=f"config.yaml is {len(config_yaml):,} characters, over the cap of "
                f"{MAX_YAML_CHARS:,} (MAX_YAML_CHARS)",
            )
        ], None
    findings = number_strings(config_yaml)
    try:
        data = load_yaml(config_yaml, "config.yaml")
    except LimitExceeded as exc:
        findings.append(Finding(file="config.yaml", kind="syntax_error", severity="error", message=str(exc)))
        return findings, None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        findings.append(
            Finding(
                file="config.yaml",
                line=mark.line + 1 if mark else None,
                kind="syntax_error",
                severity="error",
                message=f"config.yaml does not parse: {exc}",
            )
        )
        return findings, None
    if not isinstance(data, dict):
        return findings, None
    tree = _Tree(data)
    excused = _written_or_tested_keys(index)
    for mod in index.modules.values():
        findings += _check_module(mod, tree, excused)
    return findings, data


def number_strings(config_yaml: str) -> list[Finding]:
    out: list[Finding] = []
    try:
        tokens = list(yaml.scan(config_yaml, Loader=yaml.SafeLoader))
    except yaml.YAMLError:
        return out
    for tok in tokens:
        if (
            isinstance(tok, yaml.ScalarToken)
            and tok.plain
            and _FLOAT_12.match(tok.value)
            and isinstance(load_yaml(tok.value), str)  # `1.0e-05` is a float even in YAML 1.1
        ):
            out.append(
                Finding(
                    file="config.yaml",
                    line=tok.start_mark.line + 1,
                    kind="config_number_as_string",
                    severity="warning",
                    message=f"{tok.value} is read as the string {tok.value!r} by PyYAML (YAML 1.1); "
                    f"write it with a dot, e.g. {_with_dot(tok.value)}",
                )
            )
    return out


def _with_dot(value: str) -> str:
    mantissa, _, exponent = value.lower().partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}e{exponent}"


def _written_or_tested_keys(index: RepoIndex) -> set[str]:
    keys: set[str] = set()
    for mod in index.modules.values():
        for node in ast.walk(mod.tree):
            if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store | ast.Del):
                if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                    keys.add(node.slice.value)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in ("setdefault", "pop") and node.args:
                    a = node.args[0]
                    if isinstance(a, ast.Constant) and isinstance(a.value, str):
                        keys.add(a.value)
            elif isinstance(node, ast.Compare) and any(isinstance(o, ast.In | ast.NotIn) for o in node.ops):
                if isinstance(node.left, ast.Constant) and isinstance(node.left.value, str):
                    keys.add(node.left.value)
    return keys


def _scopes(tree: ast.Module) -> list[tuple[ast.AST, list[ast.stmt]]]:
    out: list[tuple[ast.AST, list[ast.stmt]]] = [(tree, tree.body)]
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            out.append((node, node.body))
    return out


def _scope_nodes(body: list[ast.stmt]) -> list[ast.AST]:
    """Nodes of one scope in source order, not descending into nested functions or classes."""
    nested = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda
    out: list[ast.AST] = []
    stack: list[ast.AST] = [s for s in reversed(body) if not isinstance(s, nested)]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed([c for c in ast.iter_child_nodes(node) if not isinstance(c, nested)]))
    return out


def _check_module(mod: Module, tree: _Tree, excused: set[str]) -> list[Finding]:
    findings: list[Finding] = []
    for scope, body in _scopes(mod.tree):
        env: dict[str, Holder] = {}
        if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
            a = scope.args
            for arg in a.posonlyargs + a.args + a.kwonlyargs:
                if looks_like_config(arg.arg):
                    env[arg.arg] = Holder((), False)
        nodes = _scope_nodes(body)
        parents = {id(c): n for n in nodes for c in ast.iter_child_nodes(n)}
        others: set[str] = set()  # names bound to a path of some other file
        for node in nodes:
            if isinstance(node, ast.Assign | ast.With):
                targets = (
                    node.targets
                    if isinstance(node, ast.Assign)
                    else [i.optional_vars for i in node.items if i.optional_vars is not None]
                )
                values = (
                    [node.value] if isinstance(node, ast.Assign) else [i.context_expr for i in node.items]
                )
                if any(_names_other_file(v, others) for v in values):
                    others.update(t.id for t in targets if isinstance(t, ast.Name))
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                name = holder_name(node.targets[0])
                if name is not None:
                    held = _holder_of(node.value, env, others)
                    if held is not None:
                        env[name] = held
                    elif name in env:
                        del env[name]  # rebound to something else
                continue
            if not isinstance(node, ast.Subscript | ast.Call):
                continue
            parent = parents.get(id(node))
            if parent is not None and _is_link_of(parent, node):
                continue  # only the outermost expression of a chain is checked
            root, links = key_chain(node)
            name = holder_name(root)
            holder = env.get(name) if name else None
            if holder is None and name and looks_like_config(name) and name.startswith("self."):
                holder = Holder((), False)
            if holder is None:
                continue
            if isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Load):
                continue
            links = _const_keys(links)
            if not links:
                continue
            keys = [link.key for link in links if link.key is not None]
            at = tree.missing_at(holder, keys)
            if at is None or keys[at] in excused:
                continue
            link = links[at]
            path = ".".join([*holder.prefix, *keys[: at + 1]])
            findings.append(
                Finding(
                    file=mod.path,
                    line=link.node.lineno,
                    kind="missing_config_key",
                    severity="warning" if link.has_default else "error",
                    message=f"{mod.path} reads config key {path!r}, which config.yaml does not define"
                    + (" (a default is used)" if link.has_default else ""),
                    detail=ast.get_source_segment(mod.source, node) or "",
                )
            )
    return findings


def _is_link_of(parent: ast.AST, child: ast.AST) -> bool:
    if isinstance(parent, ast.Subscript) and parent.value is child:
        return True
    if isinstance(parent, ast.Attribute) and parent.value is child and parent.attr == "get":
        return True
    return False


def _holder_of(value: ast.expr, env: dict[str, Holder], others: set[str]) -> Holder | None:
    if _is_loader(value):
        # A test that writes its own small YAML and loads it back reads that file's keys, not ours.
        return None if isinstance(value, ast.Call) and _loads_other_file(value, others) else Holder((), True)
    if isinstance(value, ast.BoolOp):  # cfg.get("x") or {}
        value = value.values[0]
    root, links = key_chain(value)
    name = holder_name(root)
    if name is None or name not in env or not links:
        if name is not None and name in env and not links:
            return env[name]
        return None
    links = _const_keys(links)
    if not links or len(links) != len(key_chain(value)[1]):
        return None
    held = env[name]
    return Holder(held.prefix + tuple(link.key for link in links if link.key is not None), held.strict)
