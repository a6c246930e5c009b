"""Generated file paths are data from a model: normalise them and keep them inside the repository."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path, PurePosixPath

from papercoder_mcp.errors import UnsafePath

# Written by their own stages or by export, never generated as ordinary files.
RESERVED_PATHS = frozenset({"config.yaml", "requirements.txt", "README.md", "reproduce.sh"})
_DRIVE = re.compile(r"^[A-Za-z]:")


def normalize_repo_path(path: str) -> str:
    """Return the canonical relative POSIX form of a repository path, or raise UnsafePath.

    Rejects absolute paths, drive letters, `..` anywhere, empty names, NUL bytes and
    backslashes (which mean a separator on Windows and a filename character elsewhere).
    """
    raw = path.strip()
    if not raw:
        raise UnsafePath("empty file path")
    if "\x00" in raw or "\\" in raw:
        raise UnsafePath(f"file path {path!r} contains a NUL byte or backslash; use forward slashes")
    if raw.startswith("/") or _DRIVE.match(raw) or raw.startswith("~"):
        raise UnsafePath(f"file path {path!r} is absolute; paths must be relative to the repository root")
    parts = PurePosixPath(raw).parts
    if ".." in parts:
        raise UnsafePath(f"file path {path!r} climbs out of the repository with '..'")
    norm = posixpath.normpath(raw)
    if norm in (".", "") or norm.startswith("../"):
        raise UnsafePath(f"file path {path!r} does not name a file inside the repository")
    return norm


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
