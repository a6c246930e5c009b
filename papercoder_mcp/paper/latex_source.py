"""Reading LaTeX sources from disk: comments, `\\input` expansion, the main file of a directory, tarballs.

Everything here treats the source as hostile: inputs may not leave the source root, and a
tarball is unpacked member by member with its names, links and sizes checked.
"""

from __future__ import annotations

import gzip
import json
import posixpath
import re
import shutil
import tarfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from papercoder_mcp.errors import PaperParseError
from papercoder_mcp.paper.latex_syntax import env_end, is_escaped

# arXiv caps a submission at 50 MB; these caps only stop decompression bombs and \input fan-out.
MAX_EXTRACT_BYTES = 100 * 1024 * 1024  # all members together
MAX_MEMBER_BYTES = 50 * 1024 * 1024  # one member (or a gzipped single .tex)
MAX_MEMBERS = 5_000
MAX_INPUT_DEPTH = 20
MAX_INPUT_REPEATS = 10  # the same file \input again and again is a fan-out bomb, not a paper
MAX_INPUTS = 1_000
MAX_EXPANDED_CHARS = 20_000_000
# TeX itself stops grouping at 255 levels; real papers stay far below. Deeper nesting only exhausts
# the recursive parser's stack.
MAX_TEX_NESTING = 200
MAIN_NAMES = ("main.tex", "ms.tex", "paper.tex")
# \input of these is figure data (pgfplots, tikz), not prose.
INPUT_SUFFIXES = {".tex", ".bbl", ".ltx", ".latex", ".txt", ""}

VERBATIM_ENVS = ("verbatim", "verbatim*", "Verbatim", "lstlisting", "minted", "comment")
_BEGIN_END = re.compile(r"\\(begin|end)\s*\{")
INPUT_RE = re.compile(r"\\(input|include|subfile)(?![a-zA-Z])\s*(?:\{([^}]*)\}|([^\s{}\\%]+))")


def check_nesting(text: str) -> None:
    """Refuse brace or environment nesting past MAX_TEX_NESTING, by one linear scan before parsing."""
    depth = deepest = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
            deepest = max(deepest, depth)
        elif c == "}":
            depth -= 1
        i += 1
    envs = env_depth = 0
    for m in _BEGIN_END.finditer(text):
        env_depth += 1 if m.group(1) == "begin" else -1
        envs = max(envs, env_depth)
    worst = max(deepest, envs)
    if worst > MAX_TEX_NESTING:
        raise PaperParseError(
            f"the source nests {worst} levels deep (braces or environments), over the cap of "
            f"{MAX_TEX_NESTING} (MAX_TEX_NESTING)"
        )


def decode_tex(data: bytes, name: str, warnings: list[str]) -> str:
    """UTF-8 text; old sources in Latin-1 are accepted with a warning, binary data is refused."""
    if b"\0" in data[:65536]:
        raise PaperParseError(f"{name}: looks like a binary file, not LaTeX source")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        warnings.append(f"{name}: not valid UTF-8, read as Latin-1")
        text = data.decode("latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def strip_comments(text: str) -> str:
    """Remove `%` comments (an escaped `\\%` stays), leaving verbatim environments alone.

    A line that is only a comment is dropped whole, so it does not turn into a blank
    line and split a paragraph that LaTeX would keep together.
    """
    out: list[str] = []
    verbatim: str | None = None
    for line in text.split("\n"):
        if verbatim is not None:
            out.append(line)
            if f"\\end{{{verbatim}}}" in line:
                verbatim = None
            continue
        cut = _comment_start(line)
        if cut is not None:
            if not line[:cut].strip():
                continue
            line = line[:cut]
        for env in VERBATIM_ENVS:
            begin = line.find(f"\\begin{{{env}}}")
            if begin >= 0 and f"\\end{{{env}}}" not in line[begin:]:
                verbatim = env
        out.append(line)
    return "\n".join(out)


def _comment_start(line: str) -> int | None:
    j = line.find("%")
    while j >= 0:
        if not is_escaped(line, j):
            return j
        j = line.find("%", j + 1)
    return None


def remove_dead_code(text: str) -> str:
    """Drop `\\iffalse ... \\fi` blocks and `comment` environments: text the author switched off."""
    while True:
        m = re.search(r"\\iffalse(?![a-zA-Z])", text)
        if m is None:
            break
        depth = 1
        end = -1
        for t in re.finditer(r"\\(if[a-zA-Z]*|fi)(?![a-zA-Z])", text[m.end() :]):
            name = t.group(1)
            if name in ("iff", "ifthenelse"):
                continue
            depth += 1 if name != "fi" else -1
            if depth == 0:
                end = m.end() + t.end()
                break
        if end < 0:
            break
        text = text[: m.start()] + text[end:]
    while True:
        m = re.search(r"\\begin\s*\{comment\}", text)
        if m is None:
            return text
        span = env_end(text, "comment", m.end())
        text = text[: m.start()] + (text[span[1] :] if span else "")


@dataclass
class _Includes:
    """What the expansion of one document has read so far, checked against the caps."""

    seen: Counter[Path] = field(default_factory=Counter)
    total: int = 0
    chars: int = 0

    def admit(self, target: Path, name: str, size: int) -> None:
        self.seen[target] += 1
        self.total += 1
        self.chars += size
        if self.seen[target] > MAX_INPUT_REPEATS:
            raise PaperParseError(
                f"\\input{{{name}}} is included more than {MAX_INPUT_REPEATS} times (MAX_INPUT_REPEATS); "
                "the source fans out like an include bomb, refusing it"
            )
        if self.total > MAX_INPUTS:
            raise PaperParseError(f"the source has more than {MAX_INPUTS} \\input/\\include (MAX_INPUTS)")
        if self.chars > MAX_EXPANDED_CHARS:
            raise PaperParseError(
                f"the source expands to more than {MAX_EXPANDED_CHARS:,} characters with its inputs "
                "(MAX_EXPANDED_CHARS)"
            )


def load_tex(main: Path, root: Path, warnings: list[str]) -> str:
    """The main file with comments stripped and every `\\input`/`\\include` expanded in place."""
    text = _read(main, root, warnings)
    includes = _Includes(chars=len(text))
    return _expand(text, main.parent, root.resolve(), [main.resolve()], warnings, includes)


def _read(path: Path, root: Path, warnings: list[str]) -> str:
    return strip_comments(decode_tex(path.read_bytes(), _rel(path, root), warnings))


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _expand(
    text: str, base: Path, root: Path, stack: list[Path], warnings: list[str], includes: _Includes
) -> str:
    def replace(m: re.Match[str]) -> str:
        if is_escaped(text, m.start()):
            return m.group(0)
        name = (m.group(2) or m.group(3) or "").strip()
        if not name:
            return ""
        target = _resolve_input(name, base, root, warnings)
        if target is None:
            return ""
        if target in stack:
            warnings.append(
                f"\\input{{{name}}} includes itself (cycle through {_rel(stack[-1], root)}); skipped"
            )
            return ""
        if len(stack) > MAX_INPUT_DEPTH:
            raise PaperParseError(
                f"\\input{{{name}}}: inputs nested deeper than {MAX_INPUT_DEPTH} (MAX_INPUT_DEPTH)"
            )
        if target.suffix.lower() not in INPUT_SUFFIXES:
            return ""
        includes.admit(target, name, target.stat().st_size)
        inner = _read(target, root, warnings)
        body = _expand(inner, base, root, [*stack, target], warnings, includes)
        # \include starts a new page, so it also ends the paragraph before it.
        return f"\n\n{body}\n\n" if m.group(1) == "include" else body

    return INPUT_RE.sub(replace, text)


def _resolve_input(name: str, base: Path, root: Path, warnings: list[str]) -> Path | None:
    """The file an `\\input{name}` reads: relative to the main file's directory, `.tex` added like LaTeX does."""
    candidates = [name] if name.lower().endswith(".tex") else [name + ".tex", name]
    for cand in candidates:
        path = (base / cand).resolve()
        if not path.is_relative_to(root):
            warnings.append(f"\\input{{{name}}} points outside the source directory; skipped")
            return None
        if path.is_file():
            return path
    warnings.append(f"\\input{{{name}}}: file not found; skipped")
    return None


def find_main_file(directory: Path, warnings: list[str]) -> Path:
    """The .tex file that holds `\\documentclass`; ties go to main/ms/paper.tex, then to the largest."""
    texs = sorted(p for p in directory.rglob("*.tex") if p.is_file())
    if not texs:
        raise PaperParseError(f"{directory}: no .tex file found; give a LaTeX source directory or tarball")
    readme = _arxiv_toplevel(directory)
    if readme is not None:
        return readme
    candidates: list[tuple[Path, bool]] = []
    for p in texs:
        try:
            head = strip_comments(p.read_bytes().decode("utf-8", "replace"))
        except OSError:
            continue
        m = re.search(r"\\documentclass\s*(\[[^\]]*\])?\s*\{([^}]*)\}", head)
        if m and m.group(2).strip() != "standalone":
            candidates.append((p, "\\begin{document}" in head))
    if not candidates:
        if len(texs) == 1:
            return texs[0]
        pick = _prefer(texs)
        warnings.append(
            f"no .tex file has \\documentclass; guessed {pick.relative_to(directory)} as the main file"
        )
        return pick
    with_body = [p for p, has_body in candidates if has_body] or [p for p, _ in candidates]
    if len(with_body) == 1:
        return with_body[0]
    pick = _prefer(with_body)
    others = ", ".join(str(p.relative_to(directory)) for p in with_body if p != pick)
    warnings.append(
        f"several .tex files have \\documentclass; using {pick.relative_to(directory)} (not {others})"
    )
    return pick


def _prefer(paths: list[Path]) -> Path:
    for name in MAIN_NAMES:
        named = [p for p in paths if p.name.lower() == name]
        if named:
            return min(named, key=lambda p: len(p.parts))
    return max(paths, key=lambda p: p.stat().st_size)


def _arxiv_toplevel(directory: Path) -> Path | None:
    """arXiv's 00README.json may name the top-level file; trust it when the file is there."""
    readme = directory / "00README.json"
    if not readme.is_file():
        return None
    try:
        data = json.loads(readme.read_text("utf-8"))
        for src in data.get("sources", []):
            if src.get("usage") == "toplevel":
                path = (directory / src["filename"]).resolve()
                if path.is_relative_to(directory.resolve()) and path.is_file():
                    return path
    except (ValueError, AttributeError, KeyError, TypeError, OSError):
        return None
    return None


# ---------------------------------------------------------------------------
# Tarballs
# ---------------------------------------------------------------------------


def extract_archive(path: Path, dest: Path, warnings: list[str]) -> None:
    """Unpack an arXiv source archive into dest, refusing anything that could write outside it.

    arXiv ships either a tar(.gz) or, for single-file papers, a gzipped .tex under the same name.
    """
    try:
        tf = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        if _is_gzip(path):
            _extract_gzipped_tex(path, dest, exc)
            return
        raise PaperParseError(
            f"cannot read tar archive {path}: {exc}; is it a complete .tar.gz download?"
        ) from exc
    try:
        with tf:
            _extract_members(tf, dest, warnings)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise PaperParseError(
            f"cannot read tar archive {path}: {exc}; is it a complete .tar.gz download?"
        ) from exc


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _extract_gzipped_tex(path: Path, dest: Path, cause: BaseException) -> None:
    # Read in chunks and stop at the cap: a bomb is refused after MAX_MEMBER_BYTES, not unpacked whole.
    chunks: list[bytes] = []
    size = 0
    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                size += len(chunk)
                if size > MAX_MEMBER_BYTES:
                    raise PaperParseError(
                        f"{path}: expands to more than {MAX_MEMBER_BYTES // 2**20} MB (MAX_MEMBER_BYTES); "
                        "refusing to unpack"
                    )
                chunks.append(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise PaperParseError(f"cannot read tar archive {path}: {exc}; is it a complete download?") from exc
    data = b"".join(chunks)
    if b"\0" in data[:65536] or not re.search(rb"\\(documentclass|begin\{document\}|section)", data):
        raise PaperParseError(f"cannot read tar archive {path}: {cause}; it is not LaTeX either")
    (dest / "main.tex").write_bytes(data)


def _safe_name(name: str) -> PurePosixPath | None:
    """The member path inside the archive, or None when it is absolute or climbs out with `..`."""
    if not name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return None
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return PurePosixPath(*parts)


def _extract_members(tf: tarfile.TarFile, dest: Path, warnings: list[str]) -> None:
    root = dest.resolve()
    total = 0
    links: list[tuple[PurePosixPath, PurePosixPath]] = []
    for count, member in enumerate(tf, start=1):
        if count > MAX_MEMBERS:
            raise PaperParseError(
                f"archive has more than {MAX_MEMBERS} members (MAX_MEMBERS); refusing to unpack"
            )
        rel = _safe_name(member.name)
        if rel is None:
            warnings.append(f"archive member {member.name!r} has an unsafe path; skipped")
            continue
        target = (root / rel).resolve()
        if not target.is_relative_to(root):
            warnings.append(
                f"archive member {member.name!r} would land outside the source directory; skipped"
            )
            continue
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
        elif member.isreg():
            total += member.size
            if member.size > MAX_MEMBER_BYTES:
                raise PaperParseError(
                    f"archive member {member.name!r} is more than {MAX_MEMBER_BYTES // 2**20} MB "
                    "(MAX_MEMBER_BYTES); refusing to unpack"
                )
            if total > MAX_EXTRACT_BYTES:
                raise PaperParseError(
                    f"archive expands to more than {MAX_EXTRACT_BYTES // 2**20} MB (MAX_EXTRACT_BYTES); "
                    "refusing to unpack"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tf.extractfile(member)
            if src is None:
                continue
            with src, target.open("wb") as out:
                shutil.copyfileobj(src, out)
        elif member.issym() or member.islnk():
            link = _link_target(rel, member)
            if link is None:
                warnings.append(
                    f"archive link {member.name!r} -> {member.linkname!r} leaves the archive; skipped"
                )
            else:
                links.append((rel, link))
        else:
            warnings.append(f"archive member {member.name!r} is not a regular file; skipped")
    # Links inside the tree become plain copies, so no link on disk can ever point outside it.
    for rel, link in links:
        src_path = root / link
        if src_path.is_file() and not src_path.is_symlink():
            dst = root / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src_path, dst)


def _link_target(rel: PurePosixPath, member: tarfile.TarInfo) -> PurePosixPath | None:
    name = member.linkname
    if not name or name.startswith("/"):
        return None
    # Symlinks are relative to the link's directory, hard links to the archive root.
    joined = posixpath.join(str(rel.parent), name) if member.issym() else name
    norm = posixpath.normpath(joined)
    if norm.startswith("..") or norm.startswith("/"):
        return None
    return _safe_name(norm)
