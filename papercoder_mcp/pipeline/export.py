"""Writing a run's repository to disk: the only place generated content leaves the store.

Export is all-or-nothing: every file is checked (present, non-empty, safe path)
before anything is written, and the tree is built in a temporary directory
beside the target and moved into place, so a failure never leaves half a repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from pydantic import BaseModel

from papercoder_mcp.errors import PaperCoderError, RunIncomplete
from papercoder_mcp.models import Architecture, CoverageReport, Plan
from papercoder_mcp.paper.models import Paper
from papercoder_mcp.paths import safe_join
from papercoder_mcp.pipeline import verification as checks
from papercoder_mcp.pipeline.repo_docs import plan_commands, readme, reproduce_sh
from papercoder_mcp.pipeline.status import run_status
from papercoder_mcp.stages import CHECK_COVERAGE, StageContext
from papercoder_mcp.stages.check_coverage import current_report
from papercoder_mcp.stages.inputs import file_order
from papercoder_mcp.store import Store, now_iso
from papercoder_mcp.verify.models import Verification
from papercoder_mcp.verify.static import run_requirements


class ExportResult(BaseModel):
    run_id: str
    out_dir: str
    files: list[str]
    git_commit: str = ""
    warnings: list[str] = []


def collect_files(
    store: Store, run_id: str, *, allow_findings: bool = False
) -> tuple[dict[str, str], list[str]]:
    """Every file of the repository, checked: refuses a run that is not complete by the one definition
    (`run_status`), except that `allow_findings` lets verification errors through (they go into the
    README). Returns the files and warnings for the caller."""
    ctx = StageContext(store=store, run_id=run_id)
    order = file_order(ctx, needed_by="export")
    status = run_status(store, run_id)
    generation: list[str] = []
    files: dict[str, str] = {}
    for path in order.order:
        art = store.find_artifact(run_id, "code", path)
        if art is None or not art.content.strip():
            generation.append(f"{path}: {'not generated' if art is None else 'empty'}")
        else:
            files[path] = art.content
    config = store.find_artifact(run_id, "config")
    if config is None:
        generation.append("config.yaml: not written")
    # Verification errors may be let through (allow_findings); the coverage check is a report, said in
    # the README when missing or out of date, never a reason to withhold the code.
    generation += [
        p
        for p in status.problems
        if not p.startswith(("verify:", "verification error:", f"{CHECK_COVERAGE.name}:"))
    ]
    if generation:
        raise RunIncomplete(run_id, list(dict.fromkeys(generation)))
    assert config is not None
    from papercoder_mcp.pipeline.repair import verify_and_store  # repair loads the verify package

    # Static verification is cheap and deterministic: check the current files now rather than refuse
    # a run only because nobody verified their latest version. A stored result for them is reused.
    verification = verify_and_store(ctx) if not status.complete else _current(store, run_id)
    errors = [f for f in verification.findings if f.severity == "error"]
    warnings = [f"{f.file}:{f.line or ''} {f.kind}: {f.message}" for f in errors]
    if errors and not allow_findings:
        raise RunIncomplete(run_id, warnings, verification_only=True)
    paper = Paper.model_validate_json(store.get_artifact(run_id, "paper").content)
    plan_art = store.find_artifact(run_id, "plan")
    plan = Plan.model_validate_json(plan_art.content) if plan_art else None
    arch = Architecture.model_validate_json(store.get_artifact(run_id, "architecture").content)
    coverage, coverage_note = _coverage(ctx)
    if coverage_note:
        warnings.append(coverage_note)
    commands = plan_commands(arch, files, coverage)
    files["config.yaml"] = config.content
    files["requirements.txt"] = run_requirements(store, run_id, order)
    # Each input says what it is and how the code reads it (older verifications only named paths).
    provide = [i.markdown() for i in verification.inputs] or [f"`{d}`" for d in verification.data_to_provide]
    files["README.md"] = readme(
        paper=paper,
        plan=plan,
        arch=arch,
        order=order,
        run_id=run_id,
        config=config.content,
        commands=commands,
        coverage=coverage,
        coverage_note=coverage_note,
        data=provide,
        problems=[w for w in warnings if w != coverage_note],
    )
    files["reproduce.sh"] = reproduce_sh(commands)
    return files, warnings


def _current(store: Store, run_id: str) -> Verification:
    found = checks.current(store, run_id)
    assert found is not None, "a complete run has a current verification"
    return found.verification


def _coverage(ctx: StageContext) -> tuple[CoverageReport | None, str]:
    """The coverage report of the code being exported, or a note saying why there is none."""
    if CHECK_COVERAGE.current(ctx) is None:
        return None, "Coverage of the paper was not checked (check_coverage was not run)."
    report = current_report(ctx)
    if report is None:
        return None, "The coverage check is out of date (the code changed since); run check_coverage again."
    return report, ""


def _git_commit(repo: Path, message: str) -> str:
    if shutil.which("git") is None:
        return ""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "papercoder-mcp",
        "GIT_AUTHOR_EMAIL": "papercoder-mcp@localhost",
        "GIT_COMMITTER_NAME": "papercoder-mcp",
        "GIT_COMMITTER_EMAIL": "papercoder-mcp@localhost",
    }
    try:
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "--no-gpg-sign", "-m", message]):
            subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, timeout=60)
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=30
        )
        return out.stdout.strip()
    except (subprocess.SubprocessError, OSError):
        return ""


MARKER = ".papercoder-export.json"


def check_out_dir(out: Path, force: bool) -> None:
    """An export goes into an empty (or new) directory, or with `force` replaces an earlier export.

    `force` never replaces a directory that an export did not write: an agent passing the wrong
    path (a home directory, a project) must not get it deleted."""
    if out.exists() and not out.is_dir():
        raise PaperCoderError(f"{out} exists and is not a directory")
    if not out.exists() or not any(out.iterdir()):
        return
    if not force:
        raise PaperCoderError(
            f"{out} is not empty; choose an empty directory, or export with force to replace an earlier export"
        )
    if not (out / MARKER).is_file():
        raise PaperCoderError(
            f"{out} is not empty and was not written by papercoder-mcp export; force only replaces an "
            "earlier export. Choose an empty directory."
        )


def export_repo(
    store: Store,
    run_id: str,
    out_dir: str | Path,
    *,
    force: bool = False,
    git: bool = True,
    allow_findings: bool = False,
) -> ExportResult:
    """Write the run's repository to `out_dir` (refusing a non-empty directory unless `force`)."""
    files, warnings = collect_files(store, run_id, allow_findings=allow_findings)
    status_complete = run_status(store, run_id).complete
    out = Path(out_dir).expanduser()
    check_out_dir(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".papercoder-export-", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the repository is an ordinary directory
    try:
        for rel, content in files.items():
            target = safe_join(staging, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            # Re-check after creating parents: a directory component must not be a link out.
            safe_join(staging, rel)
            target.write_text(content, encoding="utf-8")
        (staging / "reproduce.sh").chmod(0o755)
        (staging / MARKER).write_text(json.dumps({"run_id": run_id, "exported_at": now_iso()}) + "\n")
        commit = _git_commit(staging, f"Generated by papercoder-mcp from run {run_id}") if git else ""
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    store.update_run(
        run_id,
        status="exported" if status_complete else store.get_run(run_id).status,
        settings={**store.get_run(run_id).settings, "exported_to": str(out.resolve())},
    )
    return ExportResult(
        run_id=run_id, out_dir=str(out.resolve()), files=sorted(files), git_commit=commit, warnings=warnings
    )
