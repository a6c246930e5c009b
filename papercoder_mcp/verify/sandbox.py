"""The smoke sandbox: the one place generated code runs.

On Linux it is bubblewrap (`bwrap`). What a sandboxed command gets:

- **no network**: its own network namespace, with only a loopback of its own (the host's
  127.0.0.1 services are unreachable). Only the requirements install asks for the network, and
  only pip runs there, wheels only.
- **its own PID namespace** with a fresh `/proc`: the parent's processes (and their `environ`) are
  invisible. bwrap runs as PID 1 of it; when that dies (the timeout kills it, or our process dies:
  `--die-with-parent`) the kernel kills every process of the namespace, `setsid` ones included,
  so nothing can keep the output pipe open.
- **a root made of read-only binds**: the system folders (/usr and its links, the interpreter, the
  few /etc files programs read) plus what the caller names read-only (the virtual environment).
  Writable: the repository copy (`/repo`) and a private, size-capped `/tmp`; nothing else. The
  user's home, the store and the exported repository are not mounted at all.
- **an environment built from nothing** (`--clearenv`): PATH, HOME, LANG, plus fixed settings the
  caller chooses (never values copied from the parent).
- **limits**: when we are root, the code runs as a fresh unprivileged uid, so the process-count
  limit (RLIMIT_NPROC, threads included) applies to it alone and root-only files stay closed;
  memory per process (RLIMIT_AS), file size, CPU time, no core dumps; wall time is enforced from
  outside, and output is read with a byte bound (head and tail kept).

cgroup v2 memory/pids limits are not used: this code was written where cgroup v2 had no
controllers to delegate, and an untested path would be a false promise.

Without bwrap the caller must pass `unsandboxed=True` explicitly: the same limits and environment
apply, but nothing hides the network or the filesystem.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from papercoder_mcp.errors import SandboxUnavailable

REPO_INSIDE = "/repo"
Backend = Literal["bwrap", "unsandboxed"]

# System folders bound read-only when present (links are recreated as links).
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC = (
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/passwd",
    "/etc/group",
    "/etc/hosts",
    "/etc/mime.types",
    "/etc/ssl",
    "/etc/ca-certificates",
)
# Settings every sandboxed command gets: constants, never the parent's values.
QUIET_ENV = {
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONNOUSERSITE": "1",
    "PYTHONUNBUFFERED": "1",
    "MPLBACKEND": "Agg",
    "WANDB_MODE": "disabled",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "OMP_NUM_THREADS": "2",
    "MKL_NUM_THREADS": "2",
    "TOKENIZERS_PARALLELISM": "false",
}
# The install step alone may see the user's pip settings and proxy (pip is the only code it runs).
_PIP_ENV_PREFIXES = ("PIP_",)
_PIP_ENV = {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"}

# Runs inside the sandbox before the command: limits, then (as root) a fresh unprivileged uid.
_LAUNCHER = r"""
import json, os, resource, sys
spec = json.loads(sys.argv[1])
for name, value in spec["limits"].items():
    res = getattr(resource, name)
    soft, hard = resource.getrlimit(res)
    cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(res, (cap, cap))
uid = spec["uid"]
if uid is not None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
os.execvpe(spec["argv"][0], spec["argv"], os.environ)
"""


@dataclass(frozen=True)
class Limits:
    """What one sandboxed command may use."""

    wall_seconds: float = 60.0
    memory_bytes: int = 4 * 1024**3
    processes: int = 256  # threads count too (torch and BLAS start some)
    file_size_bytes: int = 256 * 1024**2
    tmp_bytes: int = 512 * 1024**2
    output_bytes: int = 1024**2
    network: bool = False


@dataclass
class RunResult:
    returncode: int | None  # None: killed at the wall-time limit
    output: str
    seconds: float
    timed_out: bool = False
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass
class Workspace:
    """A throwaway area holding the repository copy: the only place a sandboxed command writes."""

    root: Path
    repo: Path = field(init=False)
    tmp: Path = field(init=False)

    def __post_init__(self) -> None:
        self.repo = self.root / "repo"
        self.tmp = self.root / "tmp"
        self.repo.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    @classmethod
    def create(cls, prefix: str = "papercoder-sandbox-") -> Workspace:
        return cls(Path(tempfile.mkdtemp(prefix=prefix)))

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@functools.cache
def _bwrap_works() -> str | None:
    """None when bwrap can build our sandbox here, else why not."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap (`bwrap`) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    probe = [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", *_namespaces(True), "true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not start: {exc}"
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}"
        return f"bwrap cannot create namespaces here ({why}); user namespaces may be disabled"
    return None


def _namespaces(no_network: bool) -> list[str]:
    args = ["--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    args.append("--unshare-cgroup-try")
    if no_network:
        args.append("--unshare-net")
    if os.geteuid() != 0:
        args.append("--unshare-user")  # unprivileged bwrap needs a user namespace
    return args


class Sandbox:
    """Runs commands confined (bwrap), or, only when asked explicitly, merely limited (unsandboxed)."""

    def __init__(self, backend: Backend) -> None:
        self.backend: Backend = backend
        # One fresh uid per sandbox (as root): its process count is its own, and it owns nothing.
        self.uid: int | None = 200_000 + secrets.randbelow(60_000) if os.geteuid() == 0 else None

    @classmethod
    def detect(cls, *, unsandboxed: bool = False) -> Sandbox:
        """The sandbox this machine supports; refuses when there is none unless `unsandboxed`."""
        if unsandboxed:
            return cls("unsandboxed")
        why = _bwrap_works() if sys.platform.startswith("linux") else "the sandbox needs Linux (bubblewrap)"
        if why is None:
            return cls("bwrap")
        raise SandboxUnavailable(
            f"cannot run generated code safely: {why}. Install bubblewrap, or pass --unsandboxed "
            "to run it with limits but without isolation (it could then read your files and use the network)"
        )

    @property
    def confined(self) -> bool:
        return self.backend == "bwrap"

    def repo_dir(self, ws: Workspace) -> str:
        """Where the repository copy is, as the command sees it."""
        return REPO_INSIDE if self.confined else str(ws.repo)

    def tmp_dir(self, ws: Workspace) -> str:
        return "/tmp" if self.confined else str(ws.tmp)

    def run(
        self,
        argv: Sequence[str],
        *,
        workspace: Workspace,
        limits: Limits,
        readonly: Sequence[Path] = (),
        writable: Sequence[Path] = (),
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        whole_root: bool = False,
    ) -> RunResult:
        """Run `argv` in the sandbox, with the repository copy as the working directory.

        `readonly`/`writable`: more host paths, bound at the same path. `whole_root`: the whole
        host filesystem read-only (the install step, where pip runs and needs its configuration).
        """
        home = self.tmp_dir(workspace)
        base_env = {"PATH": os.pathsep.join(["/usr/local/bin", "/usr/bin", "/bin"]), "HOME": home}
        base_env["LANG"] = "C.UTF-8"
        base_env |= QUIET_ENV | {"TMPDIR": home}
        if limits.network:
            base_env |= {
                k: v for k, v in os.environ.items() if k in _PIP_ENV or k.startswith(_PIP_ENV_PREFIXES)
            }
        base_env |= env or {}
        workdir = cwd or self.repo_dir(workspace)
        rlimits = {
            "RLIMIT_AS": limits.memory_bytes,
            "RLIMIT_FSIZE": limits.file_size_bytes,
            "RLIMIT_CPU": int(limits.wall_seconds) + 5,
            "RLIMIT_CORE": 0,
        }
        drop = self.uid if self.confined and not whole_root else None
        # A fresh uid owns nothing yet; any other uid's processes count against the limit too.
        rlimits["RLIMIT_NPROC"] = limits.processes + (0 if drop is not None else _processes_of(os.getuid()))
        launcher_py = os.path.realpath(sys.executable)
        spec = json.dumps({"limits": rlimits, "uid": drop, "argv": list(argv)})
        inner = [launcher_py, "-I", "-S", "-c", _LAUNCHER, spec]
        if self.confined:
            if drop is not None:
                for path in (workspace.repo, *writable):
                    _chown_tree(path, drop)
            cmd = self._bwrap(workspace, limits, readonly, writable, base_env, workdir, whole_root, drop)
            read_end, write_end = os.pipe()
            try:
                # bwrap reports the command's exit code on this fd; without that report a failure is
                # the sandbox's own (a bind it could not make), never the code's.
                cmd = [cmd[0], "--json-status-fd", str(write_end), *cmd[1:], "--", *inner]
                result = _execute(
                    cmd, cwd=None, env={"PATH": os.defpath}, limits=limits, pass_fds=(write_end,)
                )
            finally:
                os.close(write_end)
                status = _read_available(read_end)
                os.close(read_end)
            if "exit-code" not in status and not result.timed_out:
                raise SandboxUnavailable(f"the sandbox could not start: {result.output.strip()[-2000:]}")
            return result
        return _execute(inner, cwd=workdir, env=base_env, limits=limits)

    def _bwrap(
        self,
        ws: Workspace,
        limits: Limits,
        readonly: Sequence[Path],
        writable: Sequence[Path],
        env: dict[str, str],
        cwd: str,
        whole_root: bool,
        drop: int | None,
    ) -> list[str]:
        args = [shutil.which("bwrap") or "bwrap", *_namespaces(not limits.network), "--clearenv"]
        if whole_root:
            # pip alone runs here: it sees the host read-only (its configuration, local wheel folders).
            args += ["--ro-bind", "/", "/"]
        else:
            # /tmp first: a bind below it (a workspace, an environment in a temporary folder) stays visible.
            args += ["--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
            ro = [Path(p) for p in (*_SYSTEM, *_ETC) if os.path.lexists(p)]
            ro += [Path(sys.base_prefix).resolve(), Path(os.path.realpath(sys.executable)).parent.parent]
            ro += [Path(p).resolve() for p in readonly]
            ro = [p for p in dict.fromkeys(ro) if _visible(p)]
            binds = _outermost([p for p in ro if not p.is_symlink()] + [Path(p).resolve() for p in writable])
            # Folders bwrap creates on the way to a bind copy no mode from the host, but a dropped
            # uid must be able to walk them (/root is 0700 on the host).
            for parent in _ancestors(binds):
                if parent != Path("/tmp"):
                    args += ["--perms", "0755", "--dir", str(parent)]
            for p in ro:
                if p.is_symlink():
                    args += ["--symlink", os.readlink(p), str(p)]
                elif p in binds:
                    args += ["--ro-bind", str(p), str(p)]
        for p in writable:
            args += ["--bind", str(Path(p).resolve()), str(Path(p).resolve())]
        args += ["--dev", "/dev", "--proc", "/proc"]
        if not whole_root:  # the install step works in the environment's folder, not the repository
            args += ["--bind", str(ws.repo), REPO_INSIDE]
            # The root bwrap builds is a tmpfs the sandbox's user owns (in a user namespace): read-only,
            # so the copy and /tmp are the only places left to write.
            args += ["--remount-ro", "/"]
        if drop is not None:
            args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]  # used once, by the launcher
        for key, value in env.items():
            args += ["--setenv", key, value]
        return [*args, "--chdir", cwd]


def _visible(path: Path) -> bool:
    """Whether we can see `path` at all (bwrap, running as us, could not bind what we cannot reach)."""
    try:
        path.lstat()
    except OSError:
        return False
    return True


def _outermost(paths: list[Path]) -> list[Path]:
    """Paths not inside another of the list (binding both would hide the inner one's mount order)."""
    unique = sorted(set(paths), key=lambda p: len(p.parts))
    out: list[Path] = []
    for p in unique:
        if not any(p == q or q in p.parents for q in out):
            out.append(p)
    return out


def _ancestors(binds: list[Path]) -> list[Path]:
    seen: dict[Path, None] = {}
    for p in binds:
        for parent in reversed(p.parents):
            if parent != Path("/") and not any(parent == b or b in parent.parents for b in binds):
                seen.setdefault(parent, None)
    return sorted(seen, key=lambda p: len(p.parts))


def _chown_tree(root: Path, uid: int) -> None:
    os.lchown(root, uid, uid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            os.lchown(os.path.join(dirpath, name), uid, uid)


def _processes_of(uid: int) -> int:
    """Processes (and threads) the uid already has: RLIMIT_NPROC counts them all."""
    count = 0
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(entry / "task"))
            except OSError:
                continue
    return count


def _read_available(fd: int, limit: int = 65536) -> str:
    """What is in the pipe now (its writers are gone or never wrote), without blocking."""
    os.set_blocking(fd, False)
    chunks: list[bytes] = []
    size = 0
    try:
        while size < limit:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except BlockingIOError:
        pass
    return b"".join(chunks).decode("utf-8", "replace")


def _execute(
    cmd: list[str], *, cwd: str | None, env: dict[str, str], limits: Limits, pass_fds: tuple[int, ...] = ()
) -> RunResult:
    """Run, reading output with a bound; at the wall-time limit the whole session is killed."""
    start = time.monotonic()
    deadline = start + limits.wall_seconds
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        pass_fds=pass_fds,
    )
    assert proc.stdout is not None
    out = _BoundedBuffer(limits.output_bytes)
    timed_out = False
    fd = proc.stdout.fileno()
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        eof = False
        while not eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            for _ in sel.select(min(remaining, 0.5)):
                chunk = os.read(fd, 65536)
                if not chunk:
                    eof = True
                out.add(chunk)
        if not timed_out:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True
        _kill(proc)
        # The namespace is gone, so EOF comes at once; a bounded drain keeps the last words.
        drain_until = time.monotonic() + 2
        while not eof and time.monotonic() < drain_until:
            if not sel.select(0.2):
                continue
            chunk = os.read(fd, 65536)
            eof = not chunk
            out.add(chunk)
    proc.stdout.close()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        pass
    return RunResult(
        returncode=None if timed_out else proc.returncode,
        output=out.text(),
        seconds=round(time.monotonic() - start, 3),
        timed_out=timed_out,
        truncated=out.dropped > 0,
    )


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class _BoundedBuffer:
    """Keeps the first tenth and the last nine tenths of at most `limit` bytes."""

    def __init__(self, limit: int) -> None:
        self.head_limit = limit // 10
        self.tail_limit = limit - self.head_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        if len(self.tail) > self.tail_limit:
            cut = len(self.tail) - self.tail_limit
            self.dropped += cut
            del self.tail[:cut]

    def text(self) -> str:
        middle = f"\n[... {self.dropped} bytes of output dropped ...]\n".encode() if self.dropped else b""
        return (bytes(self.head) + middle + bytes(self.tail)).decode("utf-8", "replace")
