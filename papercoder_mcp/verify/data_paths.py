"""Data the user must provide: paths the code reads that nothing in the repository creates.

A read is a call like `open(p)`, `np.load(p)`, `torch.load(p)`, `pd.read_csv(p)`,
`Image.open(p)`, `os.listdir(p)` or `ImageFolder(p)` whose path can be worked out
statically: a string literal, a module or function constant, `os.path.join` /
`Path(...) / ...` of those, an argparse default (`args.data_dir`), or a config
value (`config["data"]["train_path"]`). A path is created when some call writes
it (`open(p, "w")`, `torch.save(x, p)`, `.to_csv(p)`, `urlretrieve(url, p)`) or
it lies under a directory that a download call fills (`download=True, root=...`).
Paths checked with `os.path.exists` first are optional (resume checkpoints).

`open` is read the way Python reads it: `open(p, "w")` and `Path(p).open("w")` write p, and in
`p.open("r")` the receiver is the path and `"r"` only the mode. Environment variables the code
needs (`os.environ["OPENAI_API_KEY"]`, `os.getenv("HF_TOKEN")` with no default) are inputs too,
when their name says credential or location (KEY, TOKEN, SECRET, PASSWORD, URL, HOST, PATH, DIR).
Each input is classified (dataset, checkpoint, folder, file, environment variable) and says how
the code reads it, for the exported README's "what you must provide".
"""

from __future__ import annotations

import ast
import posixpath
import re
from typing import Any

from papercoder_mcp.verify.config_keys import _const_keys, key_chain
from papercoder_mcp.verify.index import Module, RepoIndex
from papercoder_mcp.verify.models import Finding, InputKind, UserInput

_READ_ATTRS = {
    "load",
    "loadtxt",
    "genfromtxt",
    "fromfile",
    "memmap",
    "imread",
    "loadmat",
    "load_from_disk",
    "read_text",
    "read_bytes",
    "listdir",
    "scandir",
    "glob",
    "iterdir",
    "ImageFolder",
    "DatasetFolder",
    "File",
}
_READ_NAMES = {"open", "ImageFolder", "DatasetFolder", "loadmat", "imread", "load_from_disk"}
_WRITE_ATTRS = {
    "save",
    "savez",
    "savez_compressed",
    "savetxt",
    "savefig",
    "save_pretrained",
    "imwrite",
    "write_text",
    "write_bytes",
    "touch",
    "mkdir",
    "makedirs",
    "urlretrieve",
    "download",
    "download_url",
    "download_and_extract_archive",
    "extractall",
    "copy",
    "copyfile",
    "move",
    "rename",
}
_EXISTS = {"exists", "isfile", "isdir", "is_file", "is_dir"}
# `x.open(p, mode)` where x is one of these is a function taking the path; any other `x.open(mode)`
# is a method whose receiver is the path (pathlib, fsspec, zipfile members, ...).
_OPEN_FUNCTIONS = {"io", "gzip", "bz2", "lzma", "codecs", "builtins", "tarfile", "Image", "PIL", "fsspec"}
_ENV_NEEDED = re.compile(
    r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|URL|URI|HOST|ENDPOINT|PATH|DIR|ROOT", re.IGNORECASE
)
_CHECKPOINT_EXT = (
    ".pt",
    ".pth",
    ".ckpt",
    ".bin",
    ".safetensors",
    ".pkl",
    ".joblib",
    ".h5",
    ".onnx",
    ".msgpack",
)
_DATASET_EXT = (
    ".csv",
    ".tsv",
    ".json",
    ".jsonl",
    ".parquet",
    ".txt",
    ".npy",
    ".npz",
    ".arrow",
    ".feather",
    ".xlsx",
    ".hdf5",
    ".mat",
    ".tfrecord",
    ".zip",
    ".tar",
    ".gz",
    ".png",
    ".jpg",
    ".wav",
)


def _kind_of(path: str, dotted: str) -> InputKind:
    lower = path.lower()
    call = dotted.rsplit(".", 1)[-1]
    if lower.endswith(_CHECKPOINT_EXT) or "checkpoint" in lower or "ckpt" in lower:
        return "checkpoint"
    if call in ("listdir", "scandir", "glob", "iterdir", "ImageFolder", "DatasetFolder", "load_from_disk"):
        return "folder"
    if (
        lower.endswith(_DATASET_EXT)
        or call.startswith("read_")
        or call in ("loadtxt", "genfromtxt", "loadmat")
    ):
        return "dataset"
    return "folder" if "." not in posixpath.basename(lower) else "file"


def check_data_paths(
    index: RepoIndex, files: dict[str, str], config: dict[str, Any] | None
) -> tuple[list[Finding], list[str]]:
    """Findings (info) for each input, and the inputs' names (paths, environment variables)."""
    findings, inputs = find_inputs(index, files, config)
    return findings, [i.name for i in inputs]


def find_inputs(
    index: RepoIndex, files: dict[str, str], config: dict[str, Any] | None
) -> tuple[list[Finding], list[UserInput]]:
    reads: list[tuple[Module, int, str, str]] = []
    created: set[str] = set()
    created_dirs: set[str] = set()
    optional: set[str] = set()
    env: dict[str, tuple[Module, int]] = {}
    for mod in index.modules.values():
        _scan(mod, config, reads, created, created_dirs, optional)
        for name, line in _env_reads(mod):
            env.setdefault(name, (mod, line))
    findings: list[Finding] = []
    needed: dict[str, UserInput] = {}
    for mod, line, path, call in reads:
        norm = _norm(path)
        if (
            not norm
            or norm in files
            or norm in created
            or norm in optional
            or any(norm == d or norm.startswith(d + "/") for d in created_dirs)
        ):
            continue
        how = f"read by `{mod.path}` (line {line}, `{call}`)"
        needed.setdefault(path, UserInput(name=path, kind=_kind_of(path, call), how=how))
        findings.append(
            Finding(
                file=mod.path,
                line=line,
                kind="user_data",
                severity="info",
                message=f"{mod.path} reads {path!r}, which nothing in the repository creates or downloads: "
                "the user must provide it",
            )
        )
    for name, (mod, line) in env.items():
        how = f"read from the environment by `{mod.path}` (line {line}); set it before running"
        needed.setdefault(name, UserInput(name=name, kind="environment variable", how=how))
        findings.append(
            Finding(
                file=mod.path,
                line=line,
                kind="user_data",
                severity="info",
                message=f"{mod.path} needs the environment variable {name}, with no default: the user must set it",
            )
        )
    return findings, list(needed.values())


def _env_reads(mod: Module) -> list[tuple[str, int]]:
    """Environment variables read with no default whose names say they are inputs."""
    out: list[tuple[str, int]] = []
    for node in ast.walk(mod.tree):
        name: str | None = None
        if isinstance(node, ast.Subscript) and _is_environ(node.value) and isinstance(node.ctx, ast.Load):
            key = node.slice
            name = key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            getter = (isinstance(func, ast.Attribute) and func.attr == "getenv") or (
                isinstance(func, ast.Attribute) and func.attr == "get" and _is_environ(func.value)
            )
            has_default = len(node.args) > 1 or any(k.arg == "default" for k in node.keywords)
            if getter and not has_default and isinstance(node.args[0].value, str):
                name = node.args[0].value
        if name and _ENV_NEEDED.search(name) and name not in ("PATH", "HOME", "PYTHONPATH"):
            out.append((name, getattr(node, "lineno", 0)))
    return out


def _is_environ(expr: ast.expr) -> bool:
    return (isinstance(expr, ast.Attribute) and expr.attr == "environ") or (
        isinstance(expr, ast.Name) and expr.id == "environ"
    )


def _norm(path: str) -> str:
    p = path.strip()
    if not p or "://" in p or p == "-":
        return ""
    p = p.removeprefix("./")
    return posixpath.normpath(p) if p else ""


def _call_name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


class _Evaluator:
    """Works out the string value of a path expression, or None."""

    def __init__(self, mod: Module, config: dict[str, Any] | None) -> None:
        self.config = config
        self.consts: dict[str, str] = {}
        self.arg_defaults: dict[str, str] = {}
        for node in ast.walk(mod.tree):
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
            ):
                v = self.value(node.value)
                if v is not None:
                    self.consts.setdefault(node.targets[0].id, v)
            elif isinstance(node, ast.Call) and _call_name(node.func) == "add_argument":
                self._argparse(node)

    def _argparse(self, call: ast.Call) -> None:
        opts = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        kw = {k.arg: k.value for k in call.keywords if k.arg}
        default = kw.get("default")
        if not isinstance(default, ast.Constant) or not isinstance(default.value, str):
            return
        dest_node = kw.get("dest")
        if isinstance(dest_node, ast.Constant) and isinstance(dest_node.value, str):
            dest = dest_node.value
        else:
            longs = [o for o in opts if o.startswith("--")]
            dest = (longs[0] if longs else opts[0] if opts else "").lstrip("-").replace("-", "_")
        if dest:
            self.arg_defaults[dest] = default.value

    def value(self, expr: ast.expr) -> str | None:
        if isinstance(expr, ast.Constant):
            return expr.value if isinstance(expr.value, str) else None
        if isinstance(expr, ast.Name):
            return self.consts.get(expr.id)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Div):
            a, b = self.value(expr.left), self.value(expr.right)
            return posixpath.join(a, b) if a is not None and b is not None else None
        if isinstance(expr, ast.Call) and _call_name(expr.func) in ("join", "Path", "PurePath", "str"):
            if expr.keywords or not expr.args:
                return None
            parts = [self.value(a) for a in expr.args]
            if any(p is None for p in parts):
                return None
            return posixpath.join(*[p for p in parts if p is not None])
        if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id == "args":
            return self.arg_defaults.get(expr.attr)
        if isinstance(expr, ast.Subscript | ast.Call) and self.config is not None:
            return self._config_value(expr)
        return None

    def _config_value(self, expr: ast.expr) -> str | None:
        root, links = key_chain(expr)
        consts = _const_keys(links)
        if not links or len(consts) != len(links) or not isinstance(root, ast.Name | ast.Attribute):
            return None
        keys = [link.key for link in consts if link.key is not None]
        hits: list[str] = []
        stack: list[Any] = [self.config]
        while stack:  # the key path below any mapping of the config: the holder may be a section
            node = stack.pop()
            if isinstance(node, dict):
                cur: Any = node
                for k in keys:
                    cur = cur.get(k) if isinstance(cur, dict) else None
                if isinstance(cur, str) and ("/" in cur or "." in cur):
                    hits.append(cur)
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
        return hits[0] if len(set(hits)) == 1 else None


def _mode(call: ast.Call) -> str:
    for k in call.keywords:
        if k.arg == "mode" and isinstance(k.value, ast.Constant):
            return str(k.value.value)
    if len(call.args) > 1 and isinstance(call.args[1], ast.Constant):
        return str(call.args[1].value)
    return "r"


def _first_path_arg(
    call: ast.Call, names: tuple[str, ...] = ("root", "path", "file", "fname")
) -> ast.expr | None:
    for k in call.keywords:
        if k.arg in names:
            return k.value
    return call.args[0] if call.args else None


def _scan(
    mod: Module,
    config: dict[str, Any] | None,
    reads: list[tuple[Module, int, str, str]],
    created: set[str],
    created_dirs: set[str],
    optional: set[str],
) -> None:
    ev = _Evaluator(mod, config)
    for node in ast.walk(mod.tree):
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node.func)
        # Path("x").open() / .read_text(): the path is the receiver.
        receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
        recv_path = (
            ev.value(receiver)
            if isinstance(receiver, ast.Call) and _call_name(receiver.func) == "Path"
            else None
        )
        if any(
            k.arg == "download" and isinstance(k.value, ast.Constant) and k.value.value for k in node.keywords
        ):
            arg = _first_path_arg(node)
            v = ev.value(arg) if arg is not None else None
            if v:
                created_dirs.add(_norm(v))
            continue
        if name in _EXISTS:
            arg = receiver if recv_path is not None else (node.args[0] if node.args else None)
            v = recv_path if recv_path is not None else ev.value(arg) if arg is not None else None
            if v:
                optional.add(_norm(v))
            continue
        if name == "open":
            method = (
                isinstance(node.func, ast.Attribute)
                and receiver is not None
                and not (isinstance(receiver, ast.Name) and receiver.id in _OPEN_FUNCTIONS)
            )
            if method:  # p.open(mode): the receiver is the path, the first argument the mode
                mode = _mode_of_method(node)
                path = (
                    recv_path
                    if recv_path is not None
                    else ev.value(receiver)
                    if receiver is not None
                    else None
                )
            else:
                mode = _mode(node)
                arg = _first_path_arg(node, ("file", "fp", "filename", "name", "path"))
                path = ev.value(arg) if arg is not None else None
            if path is None:
                continue
            if any(c in mode for c in "wax+"):
                created.add(_norm(path))
            else:
                reads.append((mod, node.lineno, path, "open"))
            continue
        if name in _WRITE_ATTRS or name.startswith("to_"):
            targets = [recv_path] if recv_path is not None else [ev.value(a) for a in node.args[:3]]
            targets += [
                ev.value(k.value) for k in node.keywords if k.arg in ("f", "path", "fname", "out", "output")
            ]
            for v in targets:
                if v:
                    created.add(_norm(v))
                    if name in (
                        "mkdir",
                        "makedirs",
                        "extractall",
                        "download",
                        "download_and_extract_archive",
                    ):
                        created_dirs.add(_norm(v))
            continue
        if name in ("read_text", "read_bytes", "iterdir", "glob") and recv_path is not None:
            reads.append((mod, node.lineno, recv_path, name))
            continue
        if name in _READ_NAMES or name in _READ_ATTRS or name.startswith("read_"):
            if isinstance(node.func, ast.Attribute) and name in ("load", "File", "read_text", "read_bytes"):
                if isinstance(node.func.value, ast.Name) and node.func.value.id in (
                    "json",
                    "yaml",
                    "pickle",
                    "self",
                ):
                    continue  # these take a file object, opened by a call seen separately
            if name == "File" and _mode(node) not in ("r", "rb"):
                continue
            arg = _first_path_arg(node)
            v = ev.value(arg) if arg is not None else None
            if v:
                reads.append((mod, node.lineno, v, _dotted(node.func)))


def _dotted(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return f"{func.value.id}.{func.attr}"
    return _call_name(func)


def _mode_of_method(call: ast.Call) -> str:
    # Path(p).open(mode): the mode is the first argument.
    for k in call.keywords:
        if k.arg == "mode" and isinstance(k.value, ast.Constant):
            return str(k.value.value)
    if call.args and isinstance(call.args[0], ast.Constant):
        return str(call.args[0].value)
    return "r"
