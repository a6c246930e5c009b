"""The opt-in smoke run: import every generated module, then run the entry point with --help.

Generated code is untrusted, so it runs only here, and only:

- in a fresh temporary copy of the files (the store and any exported repository
  are never visible to it; `../x` lands inside the temporary area);
- in subprocesses in their own session, killed as a group at the timeout;
- with an environment stripped of keys, tokens, secrets and passwords, and HOME
  and TMPDIR pointing into the temporary area;
- under CPU, address-space and file-size limits.

This is containment against accidents (a stray training loop, a key leaking into
a log), not a sandbox against malice: the code can still read the user's files
by absolute path and use the network.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from papercoder_mcp.paths import safe_join
from papercoder_mcp.verify.index import module_name
from papercoder_mcp.verify.models import Finding, SmokeResult

MEMORY_LIMIT_BYTES = 4 * 1024**3
FILE_SIZE_LIMIT_BYTES = 256 * 1024**2
LOG_LIMIT = 20_000
_SECRET_PARTS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL")
_SECRET_PREFIXES = ("ANTHROPIC_", "OPENAI_", "AWS_", "AZURE_", "GOOGLE_", "HF_", "HUGGING")
_DROP = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PAPERCODER_DB"}

# Imports each module in turn, reporting each result as one JSON line, so one that hangs
# still leaves the results of the ones before it.
_IMPORT_DRIVER = r"""
import importlib, json, sys, traceback
sys.path[:0] = json.loads(sys.argv[1])
for name in json.loads(sys.argv[2]):
    print(json.dumps({"start": name}), flush=True)
    try:
        importlib.import_module(name)
        print(json.dumps({"ok": name}), flush=True)
    except BaseException:
        print(json.dumps({"fail": name, "tb": traceback.format_exc()}), flush=True)
"""


def clean_env(home: Path) -> dict[str, str]:
    """The parent's environment without credentials, with HOME and TMPDIR inside the sandbox."""
    env: dict[str, str] = {}
    for name, value in os.environ.items():
        upper = name.upper()
        if any(p in upper for p in _SECRET_PARTS) or upper.startswith(_SECRET_PREFIXES) or upper in _DROP:
            continue
        env[name] = value
    tmp = home / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        TMPDIR=str(tmp),
        XDG_CACHE_HOME=str(home / ".cache"),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONNOUSERSITE="1",
        MPLBACKEND="Agg",
        WANDB_MODE="disabled",
    )
    env.setdefault("PATH", os.defpath)
    env.setdefault("LANG", "C.UTF-8")
    return env


def _limits(cpu_seconds: int, memory: int) -> None:
    """Runs in the child before exec: resource limits (best effort where the platform lacks one)."""
    import resource

    for res, value in (
        (resource.RLIMIT_CPU, cpu_seconds),
        (resource.RLIMIT_AS, memory),
        (resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT_BYTES),
        (resource.RLIMIT_CORE, 0),
    ):
        try:
            _, hard = resource.getrlimit(res)
            cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(res, (cap, cap))
        except (ValueError, OSError):
            pass


def _run(
    cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float, memory: int
) -> tuple[int | None, str, float]:
    """(returncode or None on timeout, combined output, seconds); the whole process group dies at the end."""
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=lambda: _limits(int(timeout) + 5, memory),  # noqa: PLW1509 - no threads are started here
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        code = None
        out = b""
    finally:
        # Children the code started (data loaders, servers) go too.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if code is None:
        out, _ = proc.communicate()
    return code, out.decode("utf-8", "replace"), time.monotonic() - start


def _traceback_line(tb: str, path: str) -> int | None:
    lines = [int(m) for m in re.findall(rf'File "(?:[^"]*/)?{re.escape(path)}", line (\d+)', tb)]
    return lines[-1] if lines else None


def smoke_run(
    files: dict[str, str],
    *,
    entry_point: str,
    timeout: float = 60,
    install: bool = False,
    requirements: list[str] | None = None,
    help_flag: str = "--help",
    memory_limit: int = MEMORY_LIMIT_BYTES,
) -> tuple[SmokeResult, list[Finding]]:
    """Import every module and run `entry_point help_flag` in a throwaway copy; failures are findings.

    `timeout` bounds each step (install, imports, entry point) separately.
    """
    findings: list[Finding] = []
    log: list[str] = []
    start = time.monotonic()
    timed_out = installed = False
    area = Path(tempfile.mkdtemp(prefix="papercoder-smoke-"))
    try:
        repo = area / "repo"
        repo.mkdir()
        for rel, content in files.items():
            target = safe_join(repo, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        env = clean_env(area / "home")
        python = sys.executable
        if install:
            python, ok, text = _make_venv(area, repo, env, requirements or [], timeout, memory_limit)
            log.append(text)
            installed = ok
            if not ok:
                findings.append(
                    Finding(
                        file="requirements.txt",
                        kind="smoke_run",
                        severity="error",
                        message="installing the requirements into a throwaway environment failed",
                        detail=text[-LOG_LIMIT:],
                    )
                )
                return _result(start, installed, timed_out, log), findings
        modules = {module_name(p): p for p in sorted(files) if p.endswith(".py")}
        entry_dir = str(safe_join(repo, entry_point).parent)
        paths = [str(repo)] + ([entry_dir] if entry_dir != str(repo) else [])
        code, out, _ = _run(
            [python, "-E", "-s", "-c", _IMPORT_DRIVER, json.dumps(paths), json.dumps(list(modules))],
            cwd=repo,
            env=env,
            timeout=timeout,
            memory=memory_limit,
        )
        log.append(out)
        findings += _import_findings(out, modules, code is None, timeout)
        timed_out = code is None
        if entry_point in files:
            code, out, _ = _run(
                [python, "-E", "-s", entry_point, help_flag],
                cwd=repo,
                env=env,
                timeout=timeout,
                memory=memory_limit,
            )
            log.append(out)
            if code is None:
                timed_out = True
                findings.append(
                    Finding(
                        file=entry_point,
                        kind="smoke_run",
                        severity="error",
                        message=f"`python {entry_point} {help_flag}` did not finish within {timeout:g} s "
                        "(it may start the real work instead of printing help)",
                        detail=out[-LOG_LIMIT:],
                    )
                )
            elif code != 0:
                findings.append(
                    Finding(
                        file=entry_point,
                        line=_traceback_line(out, entry_point),
                        kind="smoke_run",
                        severity="error",
                        message=f"`python {entry_point} {help_flag}` exited with status {code}",
                        detail=out[-LOG_LIMIT:],
                    )
                )
        return _result(start, installed, timed_out, log), findings
    finally:
        shutil.rmtree(area, ignore_errors=True)


def _result(start: float, installed: bool, timed_out: bool, log: list[str]) -> SmokeResult:
    text = "\n".join(part for part in log if part)
    return SmokeResult(
        ran=True,
        installed=installed,
        seconds=round(time.monotonic() - start, 3),
        timed_out=timed_out,
        log=text[-LOG_LIMIT:],
    )


def _import_findings(out: str, modules: dict[str, str], timed_out: bool, timeout: float) -> list[Finding]:
    findings: list[Finding] = []
    started: str | None = None
    for raw in out.splitlines():
        try:
            msg = json.loads(raw)
        except ValueError:
            continue  # the module's own output
        if not isinstance(msg, dict):
            continue
        if "start" in msg:
            started = msg["start"]
        elif "ok" in msg:
            started = None
        elif "fail" in msg:
            started = None
            path = str(modules.get(msg["fail"], msg["fail"]))
            tb = str(msg.get("tb", ""))
            last = tb.strip().splitlines()[-1] if tb.strip() else "error"
            findings.append(
                Finding(
                    file=path,
                    line=_traceback_line(tb, path),
                    kind="smoke_import",
                    severity="error",
                    message=f"importing {path} failed: {last}",
                    detail=tb[-LOG_LIMIT:],
                )
            )
    if started is not None:
        path = modules.get(started, started)
        reason = f"did not finish within {timeout:g} s" if timed_out else "killed the interpreter"
        findings.append(
            Finding(
                file=path,
                kind="smoke_import",
                severity="error",
                message=f"importing {path} {reason} (module-level code must not start work)",
                detail=out[-LOG_LIMIT:],
            )
        )
    return findings


def _make_venv(
    area: Path, repo: Path, env: dict[str, str], requirements: list[str], timeout: float, memory: int
) -> tuple[str, bool, str]:
    """A throwaway virtual environment in the temporary area, with the requirements installed."""
    venv = area / "venv"
    args = [sys.executable, "-m", "venv", str(venv)]
    if not requirements:
        args.insert(3, "--without-pip")  # nothing to install: skip bootstrapping pip
    code, out, _ = _run(args, cwd=area, env=env, timeout=timeout, memory=memory)
    python = str(venv / ("Scripts" if os.name == "nt" else "bin") / "python")
    if code != 0:
        return python, False, out
    if not requirements:
        return python, True, out
    req = area / "requirements.txt"
    req.write_text("".join(r.strip() + "\n" for r in requirements), encoding="utf-8")
    code, more, _ = _run(
        [python, "-m", "pip", "install", "--disable-pip-version-check", "-r", str(req)],
        cwd=area,
        env=env,
        timeout=timeout,
        memory=memory,
    )
    return python, code == 0, out + more
