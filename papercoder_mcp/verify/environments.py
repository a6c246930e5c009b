"""Virtual environments for executed verification, cached by what they hold.

An environment is built once per (requirements, builder, interpreter) and reused across runs and
repair rounds: a PyTorch repository pays for torch once. Building is the one step of executed
verification with the network, and it runs outside the run limits (its own timeout, file-size and
disk room fit for multi-GB wheels), but still in the sandbox: only pip runs there, with
`--only-binary :all:` so no package's build code runs.

`EnvironmentBuilder` is the boundary: production uses `PipBuilder`; the tests use a builder that
lends the test interpreter's packages (they never touch the network).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import platformdirs
from packaging.requirements import Requirement

from papercoder_mcp.requirements import check_requirement
from papercoder_mcp.verify.sandbox import Limits, Sandbox, Workspace

READY = ".papercoder-ready"
INSTALL_LIMITS = Limits(
    wall_seconds=1800,
    memory_bytes=16 * 1024**3,
    processes=1024,
    file_size_bytes=16 * 1024**3,
    output_bytes=256 * 1024,
    network=True,
)


@dataclass
class Environment:
    python: str  # the environment's interpreter, as a host path (bound at the same path)
    root: Path
    key: str
    mounts: list[Path] = field(default_factory=list)  # more read-only paths it needs in the sandbox
    reused: bool = False
    log: str = ""


@dataclass
class BuildOutcome:
    ok: bool
    log: str


class EnvironmentBuilder(Protocol):
    """Creates an environment at `target` holding `requirements` (plus pytest) and says how it went."""

    name: str

    def build(self, target: Path, requirements: list[str], box: Sandbox) -> BuildOutcome: ...

    def mounts(self, target: Path) -> list[Path]: ...


def interpreter_id() -> str:
    return f"{sys.implementation.name}-{sys.version_info[0]}.{sys.version_info[1]}.{sys.version_info[2]}"


def _canonical(line: str) -> str:
    req = Requirement(line)
    name = re.sub(r"[-_.]+", "-", req.name).lower()
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    return f"{name}{extras}{req.specifier}" + (f"; {req.marker}" if req.marker else "")


def requirements_hash(requirements: list[str]) -> str:
    """The same for the same set of requirements however they are spelled (PyYAML, pyyaml)."""
    canon = sorted({_canonical(r) for r in requirements})
    return hashlib.sha256(json.dumps(canon).encode()).hexdigest()[:16]


def check_requirements(requirements: list[str]) -> list[str]:
    """Problems with requirement lines: only PEP 508 names with versions; no options, URLs or files.

    The one rule is papercoder_mcp.requirements.check_requirement (the file order's validator uses
    it too); this is the last check before pip sees the lines."""
    problems = []
    for line in requirements:
        try:
            check_requirement(line)
        except ValueError as exc:
            problems.append(str(exc))
    return problems


def cache_root() -> Path:
    return Path(platformdirs.user_cache_dir("papercoder-mcp")) / "venvs"


def _venv_python(target: Path) -> Path:
    return target / ("Scripts" if os.name == "nt" else "bin") / "python"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Two runs wanting one environment build it once (POSIX; elsewhere the sandbox refuses anyway)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def environment_key(requirements: list[str], builder: EnvironmentBuilder) -> str:
    return hashlib.sha256(
        json.dumps(
            [requirements_hash(requirements), builder.name, interpreter_id(), sys.base_prefix]
        ).encode()
    ).hexdigest()[:20]


def ensure_environment(
    requirements: list[str], builder: EnvironmentBuilder, box: Sandbox, *, root: Path | None = None
) -> tuple[Environment | None, str]:
    """The cached environment for these requirements, built if needed; (None, why) when building failed."""
    key = environment_key(requirements, builder)
    base = root or cache_root()
    target = base / key
    with _locked(base / f"{key}.lock"):
        if (target / READY).is_file():
            return Environment(
                str(_venv_python(target)), target, key, builder.mounts(target), reused=True
            ), ""
        shutil.rmtree(target, ignore_errors=True)  # a build that died half-way
        outcome = builder.build(target, requirements, box)
        if not outcome.ok:
            shutil.rmtree(target, ignore_errors=True)
            return None, outcome.log
        (target / READY).write_text(json.dumps({"requirements": sorted(requirements)}))
    return Environment(str(_venv_python(target)), target, key, builder.mounts(target), log=outcome.log), ""


def _make_venv(target: Path, *, with_pip: bool) -> BuildOutcome:
    """`python -m venv` with our own interpreter (trusted code: nothing generated runs here)."""
    args = [sys.executable, "-m", "venv", *([] if with_pip else ["--without-pip"]), str(target)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    return BuildOutcome(done.returncode == 0, done.stdout + done.stderr)


@dataclass
class PipBuilder:
    """venv + `pip install --only-binary :all:` in the sandbox, the network allowed for this step alone."""

    pip_args: tuple[str, ...] = ()
    tools: tuple[str, ...] = ("pytest",)
    name: str = "pip"

    def build(self, target: Path, requirements: list[str], box: Sandbox) -> BuildOutcome:
        made = _make_venv(target, with_pip=True)
        if not made.ok:
            return made
        wanted = [*requirements, *self.tools]
        if not wanted:
            return made
        build_tmp = target / ".build-tmp"  # on disk: a torch wheel does not fit a tmpfs
        build_tmp.mkdir()
        (build_tmp / "requirements.txt").write_text("".join(f"{r}\n" for r in wanted))
        ws = Workspace.create(prefix="papercoder-install-")
        try:
            result = box.run(
                [
                    str(_venv_python(target)),
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    "--no-cache-dir",
                    "--only-binary",
                    ":all:",
                    *self.pip_args,
                    "-r",
                    str(build_tmp / "requirements.txt"),
                ],
                workspace=ws,
                limits=INSTALL_LIMITS,
                writable=[target],
                env={"TMPDIR": str(build_tmp)},
                cwd=str(target),
                whole_root=True,
            )
        finally:
            ws.remove()
            shutil.rmtree(build_tmp, ignore_errors=True)
        log = made.log + result.output
        if result.timed_out:
            log += f"\ninstalling did not finish within {INSTALL_LIMITS.wall_seconds:g} s"
        return BuildOutcome(result.ok, log)

    def mounts(self, target: Path) -> list[Path]:
        return []


@dataclass
class BorrowedSiteBuilder:
    """An environment whose site lends the packages of a running environment, with no install.

    For tests (offline) and for users whose interpreter already holds everything: a `.pth` file
    puts the borrowed site-packages on the path, and the sandbox binds them read-only."""

    site_packages: tuple[Path, ...] = field(
        default_factory=lambda: tuple(Path(p) for p in sys.path if p.endswith("site-packages"))
    )
    name: str = "borrowed-site"

    def build(self, target: Path, requirements: list[str], box: Sandbox) -> BuildOutcome:
        made = _make_venv(target, with_pip=False)
        if not made.ok:
            return made
        sites = list((target / "lib").glob("python*/site-packages"))
        if not sites:
            return BuildOutcome(False, made.log + "\nthe new environment has no site-packages folder")
        lines = "".join(f"{p.resolve()}\n" for p in self.site_packages)
        (sites[0] / "_papercoder_borrowed.pth").write_text(lines)
        return made

    def mounts(self, target: Path) -> list[Path]:
        return [p.resolve() for p in self.site_packages]


_default: list[EnvironmentBuilder] = [PipBuilder()]


def default_builder() -> EnvironmentBuilder:
    return _default[0]


def use_builder(builder: EnvironmentBuilder) -> EnvironmentBuilder:
    """Make `builder` the one executed verification uses; returns the previous one."""
    previous, _default[0] = _default[0], builder
    return previous
