"""Static verification of a generated repository: every check, on file contents only.

`verify_files` is pure (no I/O, nothing imported or executed); `verify_run` reads
a run's current artifacts from the store and calls it. Neither stores anything:
the caller (repair loop, MCP tool, CLI) decides what to keep.
"""

from __future__ import annotations

import ast
import json

from papercoder_mcp.entry_point import read_cli, split_command
from papercoder_mcp.models import Architecture, FileOrder
from papercoder_mcp.stages.base import StageContext
from papercoder_mcp.stages.inputs import file_order
from papercoder_mcp.store import Store
from papercoder_mcp.verify.config_keys import check_config
from papercoder_mcp.verify.data_paths import find_inputs
from papercoder_mcp.verify.imports import check_imports
from papercoder_mcp.verify.index import RepoIndex
from papercoder_mcp.verify.models import Finding, Verification
from papercoder_mcp.verify.placeholders import check_placeholders
from papercoder_mcp.verify.signatures import check_signatures
from papercoder_mcp.verify.test_strength import is_test_file, weakening
from papercoder_mcp.verify.unwired import check_unwired

_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def verify_files(
    files: dict[str, str],
    *,
    config_yaml: str | None,
    requirements: list[str],
    entry_point: str,
    must_work: dict[str, str] | None = None,
    smoke_command: str | None = None,
) -> Verification:
    """Run every static check over `files` (repo path -> content) and return the findings.

    With `smoke_command` (the design's), the entry point's command line must define it."""
    index = RepoIndex(files, entry_point)
    findings: list[Finding] = list(index.syntax_findings)
    findings += check_imports(index, requirements)
    findings += check_signatures(index)
    config = None
    if config_yaml is not None:
        config_findings, config = check_config(index, config_yaml)
        findings += config_findings
    findings += _check_entry_point(index, files, entry_point)
    if smoke_command is not None and entry_point in index.modules:
        findings += _check_smoke_command(files[entry_point], entry_point, smoke_command)
    findings += check_placeholders(index, must_work)
    if entry_point in index.modules:
        findings += check_unwired(index, entry_point)
    data_findings, inputs = find_inputs(index, files, config)
    findings += data_findings
    findings.sort(key=lambda f: (_SEVERITY_ORDER[f.severity], f.file, f.line or 0, f.kind))
    return Verification(
        findings=findings,
        files_checked=sum(1 for p in files if p.endswith(".py")),
        lines_checked=index.lines,
        data_to_provide=[i.name for i in inputs],
        inputs=inputs,
    )


def _is_main_guard(test: ast.expr) -> bool:
    if not isinstance(test, ast.Compare) or len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    has_name = any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
    has_main = any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)
    return has_name and has_main


def _check_entry_point(index: RepoIndex, files: dict[str, str], entry_point: str) -> list[Finding]:
    def finding(message: str, line: int | None = None) -> Finding:
        return Finding(file=entry_point, line=line, kind="no_entry_point", severity="error", message=message)

    if entry_point not in files:
        return [finding(f"the design's entry point {entry_point} was not generated")]
    mod = index.modules.get(entry_point)
    if mod is None:
        return []  # it does not compile; that finding is already there
    guards = [s for s in mod.tree.body if isinstance(s, ast.If) and _is_main_guard(s.test)]
    if not guards:
        return [
            finding(f'{entry_point} has no `if __name__ == "__main__":` block, so running it does nothing')
        ]
    if not any(isinstance(n, ast.Call) for g in guards for s in g.body for n in ast.walk(s)):
        return [
            finding(
                f'the `if __name__ == "__main__":` block of {entry_point} calls nothing', guards[0].lineno
            )
        ]
    return []


def _weakened_tests(store: Store, run_id: str, files: dict[str, str]) -> list[Finding]:
    """Test files that a repair left with fewer tests or assertions than the version it repaired."""
    out = []
    for path, content in files.items():
        if not is_test_file(path):
            continue
        history = store.history(run_id, "code", path)
        baseline = next((a.content for a in reversed(history) if not a.metadata.get("repair")), None)
        why = weakening(path, baseline, content) if baseline is not None else None
        if why is not None:
            out.append(Finding(file=path, kind="test_weakened", severity="error", message=why))
    return out


def _check_smoke_command(source: str, entry_point: str, command: str) -> list[Finding]:
    """The smoke mode the design names must exist in the entry point's argparse/click/typer code."""
    argv = split_command(command, entry_point)
    problem = (
        read_cli(entry_point, source).problem(argv) if argv is not None else "it does not run the entry point"
    )
    if not problem:
        return []
    return [
        Finding(
            file=entry_point,
            kind="no_smoke_mode",
            severity="error",
            message=f"the smoke command `{command}` would not run: {problem}; add the smoke mode to "
            f"{entry_point}'s command line",
        )
    ]


def run_requirements(store: Store, run_id: str, order: FileOrder) -> str:
    """requirements.txt of a run: the file order's packages, or the repaired list when a repair added some."""
    art = store.find_artifact(run_id, "requirements")
    return art.content if art is not None else order.requirements_txt()


def verify_run(store: Store, run_id: str) -> Verification:
    """Verify the current code of a run; files not generated yet are findings, not exceptions."""
    ctx = StageContext(store=store, run_id=run_id)
    order: FileOrder = file_order(ctx, needed_by="verify")
    arch = Architecture.model_validate(json.loads(store.get_artifact(run_id, "architecture").content))
    files: dict[str, str] = {}
    missing: list[Finding] = []
    for path in order.order:
        art = store.find_artifact(run_id, "code", path)
        if art is None or not art.content.strip():
            missing.append(
                Finding(
                    file=path,
                    kind="missing_module",
                    severity="error",
                    message=f"{path} has not been generated yet (call generate_file({path!r}))",
                )
            )
            continue
        files[path] = art.content
    config_art = store.find_artifact(run_id, "config")
    if config_art is not None:
        files["config.yaml"] = config_art.content
    requirements_txt = run_requirements(store, run_id, order)
    requirements = [
        line for line in requirements_txt.splitlines() if line.strip() and not line.startswith("#")
    ]
    files["requirements.txt"] = requirements_txt
    must_work = {t.path: f"{t.purpose}\n{t.logic}" for t in order.files}
    missing += _weakened_tests(store, run_id, files)
    result = verify_files(
        files,
        config_yaml=config_art.content if config_art else None,
        requirements=requirements,
        entry_point=arch.entry_point,
        must_work=must_work,
        smoke_command=arch.smoke_command,
    )
    if missing:
        # The entry point's absence is already said by its own finding.
        absent = {f.file for f in missing}
        kept = [f for f in result.findings if not (f.kind == "no_entry_point" and f.file in absent)]
        result = result.model_copy(update={"findings": missing + kept})
    return result
