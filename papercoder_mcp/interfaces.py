"""The public interface of generated Python files, computed from their code with `ast`, for prompts.

A repair prompt needs what a file's dependencies offer, not their whole code
(`interface_of`). A file being generated needs the contracts of every file
written before it, including files it does not import: checkpoint paths, output
names, CLI flags, config keys (`file_summary`, `repository_summary`). These come
from the code, never from the model's description of it, and are bounded so
that the per-file prompt stays small.
"""

from __future__ import annotations

import ast

from papercoder_mcp.entry_point import read_cli
from papercoder_mcp.errors import LimitExceeded
from papercoder_mcp.limits import parse_python

# Calls that write a path they are given, and calls that read one (method or function names).
WRITE_CALLS = frozenset(
    {
        "save",
        "dump",
        "savefig",
        "to_csv",
        "to_json",
        "to_parquet",
        "write_text",
        "write_bytes",
        "save_pretrained",
        "save_model",
        "imwrite",
        "savez",
        "save_checkpoint",
        "makedirs",
        "mkdir",
        "SummaryWriter",
    }
)
READ_CALLS = frozenset(
    {
        "load",
        "read_csv",
        "read_json",
        "read_parquet",
        "read_text",
        "read_bytes",
        "from_pretrained",
        "load_dataset",
        "imread",
        "load_state_dict_from_url",
        "loadtxt",
        "load_checkpoint",
        "safe_load",
        "ImageFolder",
        "glob",
    }
)
SUMMARY_ITEMS = 12  # per list (config keys, files) in one file's summary
SUMMARY_LINES = 40  # per file
SUMMARY_CHARS = 12_000  # for the whole repository block


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef, indent: str) -> list[str]:
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    lines = [f"{indent}{prefix} {node.name}({ast.unparse(node.args)}){returns}: ..."]
    doc = ast.get_docstring(node)
    if doc:
        lines[0] = lines[0][:-5] + ":"
        lines.append(f'{indent}    """{doc.strip().splitlines()[0]}"""')
    return lines


def _private(name: str) -> bool:
    """`_helper`, not `__init__`: a private name is no contract between files, so a repair that adds or
    renames one leaves the interface (and every prompt and hash built from it) unchanged."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def interface_of(source: str) -> str:
    """Top-level functions, classes (with methods and class attributes) and constants of a module;
    private names are left out."""
    try:
        tree = parse_python(source, "the module")
    except SyntaxError as exc:
        return f"# (does not parse: {exc.msg} at line {exc.lineno})"
    except (LimitExceeded, RecursionError, MemoryError, ValueError) as exc:
        return f"# (not read: {exc})"
    out: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and _private(node.name):
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out += _signature(node, "")
        elif isinstance(node, ast.ClassDef):
            bases = f"({', '.join(ast.unparse(b) for b in node.bases)})" if node.bases else ""
            out.append(f"class {node.name}{bases}:")
            members = 0
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not _private(item.name):
                    out += _signature(item, "    ")
                    members += 1
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    out.append(f"    {item.target.id}: {ast.unparse(item.annotation)}")
                    members += 1
            if not members:
                out.append("    ...")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name) and t.id.isupper()]
            out += [f"{name} = ..." for name in names]
    return "\n".join(out)


def _call_name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def config_keys_read(tree: ast.Module) -> list[str]:
    """Dotted config key paths the code reads from config-like holders (`config["train"]["lr"]`,
    `cfg.get("seed")`, or `t = config["train"]; t["lr"]`), in order of first use."""
    sections = _config_sections(tree)
    found: dict[str, None] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Subscript, ast.Call)):
            keys = _keys_of(node, sections)
            if keys:
                found[keys] = None
    # Keep the leaves: "train" is implied by "train.lr".
    paths = list(found)
    return [k for k in paths if not any(o.startswith(k + ".") for o in paths)]


def _config_sections(tree: ast.Module) -> dict[str, str]:
    """Variables that hold a section of the config: `t = config["train"]` -> {"t": "train"}."""
    from papercoder_mcp.verify.config_keys import holder_name

    sections: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            name = holder_name(node.targets[0])
            keys = _keys_of(node.value, sections)
            if name and keys:
                sections[name] = keys
    return sections


def _keys_of(expr: ast.expr, sections: dict[str, str]) -> str:
    # Imported here: papercoder_mcp.verify imports the stages, which import this module.
    from papercoder_mcp.verify.config_keys import holder_name, key_chain, looks_like_config

    root, links = key_chain(expr)
    name = holder_name(root)
    if not links or not name or not (looks_like_config(name) or name in sections):
        return ""
    parts = [sections[name]] if name in sections else []
    for link in links:
        if link.key is None:
            break
        parts.append(link.key)
    return ".".join(p for p in parts if p) if len(parts) > (1 if name in sections else 0) else ""


def _path_text(expr: ast.expr, sections: dict[str, str]) -> str:
    """A readable form of a path argument: a literal, a joined literal, or the config key it comes from."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return repr(expr.value)
    if isinstance(expr, ast.JoinedStr):
        return ast.unparse(expr)
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Div):
        left, right = _path_text(expr.left, sections), _path_text(expr.right, sections)
        return f"{left} / {right}" if left and right else ""
    if isinstance(expr, ast.Call) and _call_name(expr.func) in ("join", "Path") and expr.args:
        parts = [_path_text(a, sections) for a in expr.args]
        return " / ".join(parts) if all(parts) else ""
    keys = _keys_of(expr, sections)
    return f"config[{keys}]" if keys else ""


def files_read_and_written(tree: ast.Module) -> tuple[list[str], list[str]]:
    """Paths (literals or config keys) the code reads and writes, judged by the call that takes them."""
    sections = _config_sections(tree)
    reads: dict[str, None] = {}
    writes: dict[str, None] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node.func)
        args = list(node.args)
        if name == "open" and args:
            mode = (
                node.args[1]
                if len(node.args) > 1
                else next((k.value for k in node.keywords if k.arg == "mode"), None)
            )
            text = mode.value if isinstance(mode, ast.Constant) and isinstance(mode.value, str) else "r"
            target = writes if any(c in text for c in "wax+") else reads
            path = _path_text(args[0], sections)
            if path:
                target[path] = None
            continue
        if name not in WRITE_CALLS and name not in READ_CALLS:
            continue
        target = writes if name in WRITE_CALLS else reads
        # `torch.save(obj, path)`: the path is the last positional; `x.to_csv(path)`: the first.
        candidates = args[-1:] if name in ("save", "dump", "savez") else args[:1]
        candidates += [k.value for k in node.keywords if k.arg in ("path", "f", "file", "fname", "filename")]
        if isinstance(node.func, ast.Attribute) and name in (
            "write_text",
            "write_bytes",
            "mkdir",
            "read_text",
        ):
            # Path(...).write_text(content): the path is what it is called on; an argument is the
            # content (seen: a test's CSV text listed as a file it writes).
            candidates = [node.func.value]
        for c in candidates:
            path = _path_text(c, sections)
            if path:
                target[path] = None
    return list(reads), list(writes)


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:SUMMARY_ITEMS])
    return shown + (f", and {len(items) - SUMMARY_ITEMS} more" if len(items) > SUMMARY_ITEMS else "")


def file_summary(path: str, source: str) -> str:
    """The compact contract of one generated file: interface, config keys, files, command line."""
    if not path.endswith(".py"):
        return f"### `{path}`\n(not Python: {len(source.splitlines())} lines)"
    try:
        tree = parse_python(source, path)
    except SyntaxError as exc:
        return f"### `{path}`\n(does not parse: {exc.msg} at line {exc.lineno})"
    except LimitExceeded as exc:
        return f"### `{path}`\n(not read: {exc})"
    lines = [f"### `{path}`"]
    keys = config_keys_read(tree)
    if keys:
        lines.append(f"config keys read: {_listed(keys)}")
    reads, writes = files_read_and_written(tree)
    if reads:
        lines.append(f"reads files: {_listed(reads)}")
    if writes:
        lines.append(f"writes files: {_listed(writes)}")
    cli = read_cli(path, source)
    if cli.framework != "unknown":
        usage = cli.usage(path)
        options = [o.usage() for c in [cli.root, *cli.subcommands] for o in c.options if not o.required]
        lines.append(f"command line ({cli.framework}): " + "; ".join(usage))
        if options:
            lines.append(f"optional flags: {_listed(list(dict.fromkeys(options)))}")
    body = interface_of(source).splitlines()
    room = SUMMARY_LINES - len(lines)
    if len(body) > room:
        body = [*body[: room - 1], f"# ... {len(body) - room + 1} more lines of interface"]
    lines += ["```python", *body, "```"] if body else []
    return "\n".join(lines)


def repository_summary(files: dict[str, str], paths: list[str], limit: int = SUMMARY_CHARS) -> str:
    """Summaries of `paths` (in that order) from `files`, cut at `limit` characters with a note."""
    out: list[str] = []
    used = 0
    for i, path in enumerate(paths):
        block = file_summary(path, files[path])
        if used + len(block) > limit:
            rest = paths[i:]
            out.append(f"(summaries of {len(rest)} more file(s) left out for length: {', '.join(rest)})")
            break
        out.append(block)
        used += len(block) + 2
    return "\n\n".join(out)
