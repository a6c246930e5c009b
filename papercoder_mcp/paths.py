"""The one path policy: generated file paths are data from a model (or a hostile paper's prompt injection).

Every path a model, an agent or an edit names goes through `normalize_repo_path` (one path) and every
list of paths through `check_path_set` (the paths together), in the pydantic validators of the
artifacts and again at export. A refused path raises UnsafePath naming the path and the rule.

The rules, and why:
- relative, no `..`, no NUL or backslash: it must stay inside the repository;
- NFC-normalised, printable (no control, format, bidi, zero-width, private-use or surrogate
  characters, no line or paragraph separators): what a reviewer sees is what is written;
- no `.git` component at any depth, in any case (`.GIT`, `pkg/.git/hooks/x`, a file named `.git`):
  git obeys what it finds there, so a generated `.git/config` would run commands at export;
- no two paths that differ only in case (`Main.py`, `main.py`): one overwrites the other on
  macOS and Windows;
- no file that is also a folder (`a.py` and `a.py/b.py`): the tree cannot be written;
- bounded component length, total length and depth: a 2,500-level path is not a repository;
- no Windows device name as a component (`con`, `aux.py`, `lpt1.txt`: the stem before the first
  dot, any case), none of `<>:"|?*`, and no component ending in a dot or space: a clone of such a
  repository fails or writes to a device on Windows.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from papercoder_mcp.errors import UnsafePath

# Written by their own stages or by export, never generated as ordinary files.
RESERVED_PATHS = frozenset(
    {"config.yaml", "requirements.txt", "README.md", "reproduce.sh", ".papercoder-export.json"}
)
MAX_COMPONENT_CHARS = 100
MAX_PATH_CHARS = 240
MAX_PATH_DEPTH = 12
_DRIVE = re.compile(r"^[A-Za-z]:")
# Unicode categories no file name needs: controls, format (bidi overrides, zero-width), private use,
# surrogates, line and paragraph separators.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Co", "Cs", "Zl", "Zp"})
_WINDOWS_DEVICES = frozenset(
    {"con", "prn", "aux", "nul", "conin$", "conout$"}
    | {f"{d}{n}" for d in ("com", "lpt") for n in [*"123456789", "¹", "²", "³"]}
)
_WINDOWS_FORBIDDEN = frozenset('<>:"|?*')


def _shown(path: str) -> str:
    """The path as a reader can see it: invisible characters spelled as escapes."""
    return ascii(path) if any(unicodedata.category(c) in _UNPRINTABLE for c in path) else repr(path)


def _char_name(ch: str) -> str:
    return f"U+{ord(ch):04X} {unicodedata.name(ch, unicodedata.category(ch))}"


def normalize_repo_path(path: str) -> str:
    """Return the canonical relative POSIX form (NFC) of a repository path, or raise UnsafePath."""
    if not isinstance(path, str):
        raise UnsafePath(f"file path {path!r} is not a string")
    raw = unicodedata.normalize("NFC", path.strip(" "))
    shown = _shown(path)
    if not raw:
        raise UnsafePath("empty file path")
    bad = next((c for c in raw if unicodedata.category(c) in _UNPRINTABLE), None)
    if bad is not None:
        raise UnsafePath(
            f"file path {shown} contains the invisible or control character {_char_name(bad)}; "
            "paths must be printable (no control, bidi, zero-width characters, newlines or tabs)"
        )
    if "\\" in raw:
        raise UnsafePath(f"file path {shown} contains a backslash; use forward slashes")
    if raw.startswith("/") or _DRIVE.match(raw) or raw.startswith("~"):
        raise UnsafePath(f"file path {shown} is absolute; paths must be relative to the repository root")
    if len(raw) > MAX_PATH_CHARS:
        raise UnsafePath(
            f"file path {raw[:40]!r}... is {len(raw)} characters long, over the cap of {MAX_PATH_CHARS} "
            "(MAX_PATH_CHARS)"
        )
    parts = PurePosixPath(raw).parts
    if ".." in parts:
        raise UnsafePath(f"file path {shown} climbs out of the repository with '..'")
    norm = posixpath.normpath(raw)
    if norm in (".", "") or norm.startswith("../"):
        raise UnsafePath(f"file path {shown} does not name a file inside the repository")
    components = norm.split("/")
    if len(components) > MAX_PATH_DEPTH:
        raise UnsafePath(
            f"file path {norm[:40]!r}... is {len(components)} levels deep, over the cap of "
            f"{MAX_PATH_DEPTH} (MAX_PATH_DEPTH)"
        )
    for part in components:
        if len(part) > MAX_COMPONENT_CHARS:
            raise UnsafePath(
                f"file path {norm[:40]!r}... has a {len(part)}-character name, over the cap of "
                f"{MAX_COMPONENT_CHARS} (MAX_COMPONENT_CHARS)"
            )
        # Windows drops trailing dots and spaces, so `.git.` and `.GIT ` are `.git` there.
        if part.rstrip(". ").lower() == ".git":
            raise UnsafePath(
                f"file path {shown} has a {part!r} component; nothing may be written into or as a .git "
                "(git would obey it)"
            )
        _check_portable(part, shown)
    return norm


def _check_portable(part: str, shown: str) -> None:
    """A name every platform can hold: Windows refuses these, or opens a device instead."""
    if part.split(".", 1)[0].rstrip(" ").lower() in _WINDOWS_DEVICES:
        raise UnsafePath(
            f"file path {shown} has a {part!r} component, a Windows device name (CON, PRN, AUX, NUL, "
            "COM1-9, LPT1-9, with any extension); choose another name"
        )
    bad = sorted(set(part) & _WINDOWS_FORBIDDEN)
    if bad:
        raise UnsafePath(
            f"file path {shown} contains {' '.join(bad)}, which Windows does not allow in file names"
        )
    if part.endswith((".", " ")):
        raise UnsafePath(f"file path {shown} has a component ending in a dot or space ({part!r})")


def check_path_set(paths: Iterable[str]) -> None:
    """Refuse a set of (normalised) paths that cannot coexist: case-only twins, a file that is a folder."""
    files: dict[str, str] = {}
    folders: dict[str, str] = {}
    for path in paths:
        key = path.casefold()
        twin = files.get(key)
        if twin is not None and twin != path:
            raise UnsafePath(
                f"file paths {twin!r} and {path!r} differ only in case; on macOS and Windows one would "
                "overwrite the other. Rename one."
            )
        files[key] = path
        parts = path.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            seen = folders.setdefault(folder.casefold(), folder)
            if seen != folder:
                raise UnsafePath(
                    f"folders {seen!r} and {folder!r} (in {path!r}) differ only in case; on macOS and "
                    "Windows they are one folder. Use one spelling."
                )
    for key, folder in folders.items():
        if key in files:
            raise UnsafePath(
                f"{files[key]!r} is a file and also a folder (of another listed file under "
                f"{folder + '/'!r}); a path cannot be both"
            )


def is_reserved(path: str) -> bool:
    """Whether a (normalised) path is one export writes itself, in any case."""
    return path.casefold() in {p.casefold() for p in RESERVED_PATHS}


def safe_join(root: Path, rel: str) -> Path:
    """Join a repository path to `root`, refusing anything (symlinks included) that lands outside it."""
    norm = normalize_repo_path(rel)
    root_resolved = root.resolve()
    target = root_resolved / norm
    # resolve() follows symlinks already present in the tree, so a link pointing out is caught too.
    resolved = target.resolve()
    if resolved != root_resolved and root_resolved not in resolved.parents:
        raise UnsafePath(f"file path {rel!r} resolves to {resolved}, outside {root_resolved}")
    return target
