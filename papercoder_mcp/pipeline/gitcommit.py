"""Committing an exported tree with a git that obeys nothing in the tree, the user's config or the system's.

A generated `.git/config` with `core.fsmonitor = "touch /tmp/x"` made `git add` run a command on
the host; a `.git` file with `gitdir: /elsewhere` made export commit into another repository. So
git runs with hooks and fsmonitor off, no system or user config, an empty HOME, and a git directory
made fresh outside the tree and moved in after the commit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from papercoder_mcp.errors import UnsafePath

# Git must not obey anything but us: no hooks, no fsmonitor, no user or system config, and a git
# directory made fresh outside the tree, so even a `.git/config` planted in the tree is never read.
GIT_SAFETY = (
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.fsmonitor=false",
    "-c", "core.untrackedCache=false",
    "-c", "commit.gpgSign=false",
    "-c", "protocol.allow=never",
    "-c", "init.defaultBranch=main",
    "-c", "user.name=papercoder-mcp",
    "-c", "user.email=papercoder-mcp@localhost",
)  # fmt: skip


def git_env(home: Path) -> dict[str, str]:
    """The whole environment git runs with: PATH and an empty HOME, nothing of the user's."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "LC_ALL": "C",
        "GIT_AUTHOR_NAME": "papercoder-mcp",
        "GIT_AUTHOR_EMAIL": "papercoder-mcp@localhost",
        "GIT_COMMITTER_NAME": "papercoder-mcp",
        "GIT_COMMITTER_EMAIL": "papercoder-mcp@localhost",
    }


def nested_git_entries(repo: Path) -> list[str]:
    """Every `.git` (any case) below the tree's root, links not followed."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(repo):
        for name in [*dirnames, *filenames]:
            if name.rstrip(". ").lower() == ".git" and Path(dirpath) != repo:
                found.append(str((Path(dirpath) / name).relative_to(repo)))
    return sorted(found)


def commit_tree(repo: Path, message: str, *, exclude: tuple[str, ...] = ()) -> str:
    """Commit `repo` into a new `.git` and return the commit id ("" when git is not installed).

    The repository is built in a fresh git directory outside the tree and moved in afterwards, so a
    `.git` already in the tree (only possible if the path policy were bypassed) is never read and is
    replaced; a `.git` deeper in the tree is refused, since git would treat it as another repository.
    `exclude` names top-level files left out of the commit and of `git status` (the export marker)."""
    if shutil.which("git") is None:
        return ""
    nested = nested_git_entries(repo)
    if nested:
        raise UnsafePath(
            f"refusing to run git over a tree holding {', '.join(nested)}: no .git may be exported"
        )
    with tempfile.TemporaryDirectory(prefix="papercoder-git-") as scratch:
        home = Path(scratch) / "home"
        home.mkdir()
        git_dir = Path(scratch) / "git"
        env = git_env(home)

        def git(*args: str, check: bool = True) -> str:
            cmd = ["git", *GIT_SAFETY, f"--git-dir={git_dir}", f"--work-tree={repo}", *args]
            done = subprocess.run(
                cmd, cwd=scratch, env=env, check=check, capture_output=True, text=True, timeout=60
            )
            return done.stdout.strip()

        try:
            git("init", "-q", "--template=")
            git("config", "core.bare", "false")
            # The marker is written after the commit (it records the commit); keep it out of status.
            (git_dir / "info").mkdir(exist_ok=True)
            (git_dir / "info" / "exclude").write_text("".join(f"/{p}\n" for p in exclude), encoding="utf-8")
            git("add", "-A")
            git("commit", "-q", "--no-verify", "-m", message)
            commit = git("rev-parse", "HEAD")
            # `init` with --work-tree records this scratch path as core.worktree; once the git
            # directory is moved into the tree, that path is gone and every git command would fail.
            if git("config", "--get", "core.worktree", check=False):
                git("config", "--unset", "core.worktree")
        except (subprocess.SubprocessError, OSError):
            return ""
        planted = repo / ".git"
        if planted.is_symlink() or planted.is_file():
            planted.unlink()
        elif planted.exists():
            shutil.rmtree(planted)
        shutil.move(str(git_dir), str(planted))
    return commit
