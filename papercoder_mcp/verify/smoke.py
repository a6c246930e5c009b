"""Executed verification: install the requirements, then import, test and smoke-run the repository.

Generated code runs only here, and only inside the sandbox (verify/sandbox.py): a throwaway copy
of the files, no network, its own PID namespace, an allowlisted environment, limits on processes,
memory and time. The requirements go into a cached virtual environment first
(verify/environments.py), so the code runs with its real dependencies, not papercoder's.

Failures become findings on the files in their traceback, innermost project frame first (an
error: the file most likely at fault), the outer frames as info (context, not repair targets), so
the repair loop works on what really broke, with the traceback and the failing test's source. A
missing third-party module is a requirements finding, never a code finding.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from pydantic import BaseModel

from papercoder_mcp.errors import LimitExceeded
from papercoder_mcp.limits import parse_python
from papercoder_mcp.paths import safe_join
from papercoder_mcp.store import canonical_hash
from papercoder_mcp.verify.environments import (
    EnvironmentBuilder,
    check_requirements,
    default_builder,
    ensure_environment,
    interpreter_id,
)
from papercoder_mcp.verify.index import module_name
from papercoder_mcp.verify.models import Finding, FindingKind, SmokeResult, StepRun
from papercoder_mcp.verify.requirements_map import import_to_distribution, normalize_distribution
from papercoder_mcp.verify.sandbox import Limits, RunResult, Sandbox, Workspace

LOG_LIMIT = 20_000
DETAIL_LIMIT = 12_000
JUNIT = ".papercoder-junit.xml"
_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')
_NO_MODULE = re.compile(r"ModuleNotFoundError: No module named '([\w.]+)'")

# Imports each module in turn, one JSON line per result, so one that hangs still leaves the results
# of the ones before it.
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


class ExecutionOptions(BaseModel):
    """How executed verification runs; part of the key under which its result is reused."""

    unsandboxed: bool = False
    import_seconds: float = 60
    test_seconds: float = 300
    smoke_seconds: float = 180
    memory_bytes: int = 8 * 1024**3
    processes: int = 256


def smoke_commands(entry_point: str, designed: list[str] | None = None) -> list[list[str]]:
    """The entry point's smoke-mode commands to try, in order (the first one it accepts is used):
    the design's own (`designed`: its arguments after the entry point), then the usual two."""
    tries = [[entry_point, *designed]] if designed else []
    return tries + [t for t in ([entry_point, "smoke"], [entry_point, "--smoke"]) if t not in tries]


def test_files(files: dict[str, str]) -> list[str]:
    return sorted(
        p
        for p in files
        if p.endswith(".py") and (Path(p).name.startswith("test_") or Path(p).name.endswith("_test.py"))
    )


def requirement_lines(requirements_txt: str) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in requirements_txt.splitlines())
    return [line for line in lines if line]


def execution_key(
    files: dict[str, str], requirements: list[str], builder: EnvironmentBuilder, options: ExecutionOptions
) -> str:
    """What an executed verification ran: every file's hash, the requirements, interpreter, options."""
    digests = sorted((p, hashlib.sha256(c.encode()).hexdigest()) for p, c in files.items())
    return canonical_hash(
        [digests, sorted(requirements), builder.name, interpreter_id(), options.model_dump(), 1]
    )


@dataclass
class _Context:
    files: dict[str, str]
    box: Sandbox
    ws: Workspace
    python: str
    mounts: list[Path]
    requirements: set[str]
    options: ExecutionOptions
    findings: list[Finding] = field(default_factory=list)
    steps: list[StepRun] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def run(self, name: str, argv: list[str], seconds: float, shown: str = "") -> RunResult:
        limits = Limits(
            wall_seconds=seconds, memory_bytes=self.options.memory_bytes, processes=self.options.processes
        )
        result = self.box.run(
            argv, workspace=self.ws, limits=limits, readonly=[Path(self.python).parent.parent, *self.mounts]
        )
        shown = shown or (" ".join(["python", *argv[1:]]) if argv[0] == self.python else " ".join(argv))
        self.steps.append(
            StepRun(
                name=name,
                command=shown,
                returncode=result.returncode,
                seconds=result.seconds,
                timed_out=result.timed_out,
            )
        )
        self.log.append(f"$ {shown}\n{result.output}")
        return result


def execute_repository(
    files: dict[str, str],
    *,
    entry_point: str,
    requirements: list[str],
    options: ExecutionOptions | None = None,
    builder: EnvironmentBuilder | None = None,
    env_root: Path | None = None,
    smoke_argv: list[str] | None = None,
) -> tuple[SmokeResult, list[Finding]]:
    """Install, import, test and smoke-run `files` in the sandbox; failures are findings.

    Raises SandboxUnavailable when no sandbox works and `options.unsandboxed` is not set."""
    options = options or ExecutionOptions()
    builder = builder or default_builder()
    start = time.monotonic()
    box = Sandbox.detect(unsandboxed=options.unsandboxed)
    key = execution_key(files, requirements, builder, options)
    result = SmokeResult(ran=True, sandbox=box.backend, key=key)
    bad = check_requirements(requirements)
    if bad:
        finding = Finding(
            file="requirements.txt",
            kind="install_failed",
            severity="error",
            message="requirements.txt cannot be installed safely: " + "; ".join(bad),
        )
        return result, [finding]
    env, why = ensure_environment(requirements, builder, box, root=env_root)
    if env is None:
        message = "installing the requirements (wheels only) failed, so nothing was run"
        finding = Finding(
            file="requirements.txt",
            kind="install_failed",
            severity="error",
            message=message,
            detail=why[-LOG_LIMIT:],
        )
        return result.model_copy(update={"log": why[-LOG_LIMIT:]}), [finding]
    ws = Workspace.create()
    try:
        for rel, content in files.items():
            target = safe_join(ws.repo, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        ctx = _Context(
            files=files,
            box=box,
            ws=ws,
            python=env.python,
            mounts=env.mounts,
            requirements={normalize_distribution(Requirement(r).name) for r in requirements},
            options=options,
        )
        _imports(ctx, entry_point)
        passed, failed = _tests(ctx)
        command = _smoke(ctx, entry_point, smoke_argv)
    finally:
        ws.remove()
    text = "\n".join(ctx.log)
    return (
        result.model_copy(
            update={
                "installed": True,
                "environment": env.key,
                "seconds": round(time.monotonic() - start, 3),
                "timed_out": any(s.timed_out for s in ctx.steps),
                "log": text[-LOG_LIMIT:],
                "steps": ctx.steps,
                "tests_passed": passed,
                "tests_failed": failed,
                "smoke_command": command,
            }
        ),
        _dedupe(ctx.findings),
    )


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, int | None, str, str]] = set()
    out = []
    for f in findings:
        k = (f.file, f.line, f.kind, f.message)
        if k not in seen:
            seen.add(k)
            out.append(f)
    return out


def project_frames(tb: str, files: dict[str, str], repo_dirs: tuple[str, ...]) -> list[tuple[str, int]]:
    """(repo path, line) of the traceback's frames in the repository, innermost first."""
    frames: list[tuple[str, int]] = []
    for path, line, _func in _FRAME.findall(tb):
        rel = path
        for d in repo_dirs:
            if path.startswith(d.rstrip("/") + "/"):
                rel = path[len(d.rstrip("/")) + 1 :]
        if rel in files:
            frames.append((rel, int(line)))
    return list(reversed(frames))


def _repo_dirs(ctx: _Context) -> tuple[str, ...]:
    return (ctx.box.repo_dir(ctx.ws), str(ctx.ws.repo))


def _missing_module(ctx: _Context, tb: str) -> Finding | None:
    """A ModuleNotFoundError for a third-party module, as a requirements finding."""
    m = _NO_MODULE.search(tb)
    if m is None:
        return None
    name = m.group(1)
    top = name.split(".")[0]
    own = {module_name(p).split(".")[0] for p in ctx.files if p.endswith(".py")}
    if top in own:
        return None  # a generated module imports another that does not exist: a code problem
    dist = import_to_distribution(name)
    if normalize_distribution(dist) not in ctx.requirements:
        return Finding(
            file="requirements.txt",
            kind="missing_requirement",
            severity="error",
            message=f"the code imports {name!r} at run time but requirements.txt does not list {dist!r}",
            detail=dist,
        )
    return Finding(
        file="requirements.txt",
        kind="requirement_unavailable",
        severity="error",
        message=f"requirements.txt lists {dist!r} but module {name!r} is not importable after installing it "
        "(a different distribution name, an extra, or a version without it)",
        detail=tb[-DETAIL_LIMIT:],
    )


def _failure_findings(
    ctx: _Context, tb: str, *, kind: FindingKind, message: str, fallback: str, context: str = ""
) -> list[Finding]:
    """One error on the innermost project frame, info on the frames around it; or a requirements finding."""
    missing = _missing_module(ctx, tb)
    if missing is not None:
        return [missing]
    frames = project_frames(tb, ctx.files, _repo_dirs(ctx))
    detail = (context + "\n\nTraceback:\n" if context else "") + tb
    detail = detail[-DETAIL_LIMIT:]
    if not frames:
        return [Finding(file=fallback, kind=kind, severity="error", message=message, detail=detail)]
    out: list[Finding] = []
    seen: set[str] = set()
    for n, (path, line) in enumerate(frames):
        if path in seen:
            continue
        seen.add(path)
        out.append(
            Finding(
                file=path,
                line=line,
                kind=kind,
                severity="error" if n == 0 else "info",
                message=message
                if n == 0
                else f"{message} (raised further in, at {frames[0][0]}:{frames[0][1]})",
                detail=detail,
            )
        )
    return out


def _last_line(tb: str) -> str:
    lines = [line for line in tb.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "error"


def _imports(ctx: _Context, entry_point: str) -> None:
    modules = {
        module_name(p): p for p in sorted(ctx.files) if p.endswith(".py") and p not in test_files(ctx.files)
    }
    repo = ctx.box.repo_dir(ctx.ws)
    entry_dir = str(Path(repo) / Path(entry_point).parent)
    paths = [repo] + ([entry_dir] if entry_dir != repo else [])
    result = ctx.run(
        "imports",
        [ctx.python, "-s", "-c", _IMPORT_DRIVER, json.dumps(paths), json.dumps(list(modules))],
        ctx.options.import_seconds,
        shown="python -c <import every module in turn>",
    )
    started: str | None = None
    for raw in result.output.splitlines():
        try:
            msg = json.loads(raw)
        except ValueError:
            continue  # the module's own output
        if not isinstance(msg, dict):
            continue
        if "start" in msg:
            started = str(msg["start"])
        elif "ok" in msg:
            started = None
        elif "fail" in msg:
            started = None
            path = modules.get(str(msg["fail"]), str(msg["fail"]))
            tb = str(msg.get("tb", ""))
            ctx.findings += _failure_findings(
                ctx,
                tb,
                kind="smoke_import",
                message=f"importing {path} failed: {_last_line(tb)}",
                fallback=path,
            )
    if started is not None:
        path = modules.get(started, started)
        reason = (
            f"did not finish within {ctx.options.import_seconds:g} s"
            if result.timed_out
            else "killed the interpreter"
        )
        ctx.findings.append(
            Finding(
                file=path,
                kind="smoke_import",
                severity="error",
                message=f"importing {path} {reason} (module-level code must not start work)",
                detail=result.output[-DETAIL_LIMIT:],
            )
        )


def test_source(files: dict[str, str], path: str, name: str) -> str:
    """The source of test function `name` (class-qualified names allowed) in `path`, or ''."""
    try:
        tree = parse_python(files.get(path, ""), path)
    except (SyntaxError, LimitExceeded):  # absurd nesting is no test source
        return ""
    wanted = name.split("[", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == wanted:
            return ast.get_source_segment(files[path], node) or ""
    return ""


def _tests(ctx: _Context) -> tuple[int, int]:
    tests = test_files(ctx.files)
    if not tests:
        return 0, 0
    repo = ctx.box.repo_dir(ctx.ws)
    result = ctx.run(
        "tests",
        [
            ctx.python,
            "-s",
            "-m",
            "pytest",
            "-q",
            "-v",
            "-p",
            "no:cacheprovider",
            "--tb=native",
            "-o",
            "junit_family=xunit1",
            f"--junitxml={repo}/{JUNIT}",
            "--rootdir",
            repo,
        ],
        ctx.options.test_seconds,
    )
    if result.timed_out:
        started = [m for m in re.findall(r"^(\S+\.py::\S+)", result.output, re.MULTILINE)]
        hung = started[-1] if started else ""
        path = hung.split("::")[0] if hung else tests[0]
        ctx.findings.append(
            Finding(
                file=path if path in ctx.files else tests[0],
                kind="test_failure",
                severity="error",
                message=f"the tests did not finish within {ctx.options.test_seconds:g} s"
                + (f" ({hung} was running)" if hung else ""),
                detail=result.output[-DETAIL_LIMIT:],
            )
        )
        return 0, 0
    junit = ctx.ws.repo / JUNIT
    if result.returncode == 5:
        return 0, 0  # no tests collected
    if "No module named pytest" in result.output:
        ctx.findings.append(
            Finding(
                file="requirements.txt",
                kind="install_failed",
                severity="error",
                message="pytest is not installed in the environment, so the tests could not run",
                detail=result.output[-DETAIL_LIMIT:],
            )
        )
        return 0, 0
    if not junit.is_file() or junit.stat().st_size > 5 * 1024**2:
        ctx.findings.append(
            Finding(
                file=tests[0],
                kind="test_failure",
                severity="error",
                message=f"pytest exited with status {result.returncode} without a report",
                detail=result.output[-DETAIL_LIMIT:],
            )
        )
        return 0, 0
    passed = failed = 0
    for case in ET.parse(junit).getroot().iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is None:
            if case.find("skipped") is None:
                passed += 1
            continue
        failed += 1
        path = case.get("file") or tests[0]
        name = case.get("name", "")
        node = f"{path}::{name}" if name else path
        tb = (problem.text or problem.get("message") or "").strip()
        source = test_source(ctx.files, path, name)
        context = f"Failing test {node}" + (f":\n\n```python\n{source}\n```" if source else "")
        ctx.findings += _failure_findings(
            ctx,
            tb,
            kind="test_failure",
            message=f"test {node} failed: {_last_line(tb)}",
            fallback=path if path in ctx.files else tests[0],
            context=context,
        )
    return passed, failed


def _is_usage_error(result: RunResult) -> bool:
    text = result.output.lower()
    return result.returncode == 2 and any(
        s in text for s in ("usage:", "no such command", "unrecognized arguments", "invalid choice")
    )


def _smoke(ctx: _Context, entry_point: str, designed: list[str] | None = None) -> str:
    """Run the entry point's smoke mode; returns the command that ran ('' when it has none)."""
    if entry_point not in ctx.files:
        return ""
    tried = []
    for args in smoke_commands(entry_point, designed):
        shown = "python " + " ".join(args)
        tried.append(f"`{shown}`")
        result = ctx.run("smoke", [ctx.python, "-s", *args], ctx.options.smoke_seconds)
        if _is_usage_error(result):
            continue
        if result.timed_out:
            ctx.findings.append(
                Finding(
                    file=entry_point,
                    kind="smoke_run",
                    severity="error",
                    message=f"`{shown}` did not finish within {ctx.options.smoke_seconds:g} s "
                    "(the smoke mode must use tiny data and models)",
                    detail=result.output[-DETAIL_LIMIT:],
                )
            )
        elif not result.ok:
            ctx.findings += _failure_findings(
                ctx,
                result.output,
                kind="smoke_run",
                message=f"`{shown}` exited with status {result.returncode}: {_last_line(result.output)}",
                fallback=entry_point,
            )
        return shown
    ctx.findings.append(
        Finding(
            file=entry_point,
            kind="no_smoke_mode",
            severity="warning",
            message=f"the entry point has no smoke mode: {' and '.join(tried)} were refused as usage errors; "
            "add one that runs every stage on tiny synthetic data and a tiny random model, with no download",
        )
    )
    return ""
