"""Writing a run's repository to disk: the only place generated content leaves the store.

Export is all-or-nothing: every file is checked (present, non-empty, safe path)
before anything is written, and the tree is built in a temporary directory
beside the target and moved into place, so a failure never leaves half a repository.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from papercoder_mcp.errors import PaperCoderError, RunIncomplete, StageError, UnsafePath
from papercoder_mcp.models import Architecture, CoverageReport, Plan
from papercoder_mcp.paper.models import Paper
from papercoder_mcp.paths import check_path_set, normalize_repo_path, safe_join
from papercoder_mcp.pipeline import verification as checks
from papercoder_mcp.pipeline.gitcommit import commit_tree
from papercoder_mcp.pipeline.repo_docs import plan_commands, readme, reproduce_sh
from papercoder_mcp.pipeline.status import run_status
from papercoder_mcp.requirements import requirements_problems
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


MARKER = ".papercoder-export.json"
MAX_MARKER_BYTES = 4_000_000


class ExportMarker(BaseModel):
    """What an export leaves in its directory: the files it wrote, with hashes, so `--force` can
    replace exactly those and nothing else."""

    format: Literal[1] = 1
    run_id: str
    exported_at: str
    files: dict[str, str] = Field(description="repository path -> sha256 of the content export wrote")
    git_commit: str = ""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_marker(out: Path) -> ExportMarker:
    """The marker of an earlier export, or PaperCoderError when there is none export itself wrote."""
    refuse = (
        f"{out} is not empty and was not written by papercoder-mcp export; force only replaces an "
        "earlier export. Choose an empty directory."
    )
    marker_path = out / MARKER
    if marker_path.is_symlink() or not marker_path.is_file():
        raise PaperCoderError(refuse)
    try:
        with marker_path.open("rb") as fh:
            raw = fh.read(MAX_MARKER_BYTES + 1)
        if len(raw) > MAX_MARKER_BYTES:
            raise ValueError(f"over {MAX_MARKER_BYTES} bytes")
        try:
            marker = ExportMarker.model_validate_json(raw)
        except ValidationError as exc:
            raise ValueError("it lacks the list of files export writes") from exc
        for rel in marker.files:
            if normalize_repo_path(rel) != rel:
                raise ValueError(f"it lists {rel!r}")
    except (ValueError, PaperCoderError) as exc:
        raise PaperCoderError(
            f"{out} holds a {MARKER} that export did not write ({str(exc)[:120]}); force only replaces "
            "the files an export listed in its marker (an export by an older papercoder-mcp has no list: "
            "remove that directory yourself), or choose an empty directory"
        ) from exc
    return marker


def _existing_files(out: Path) -> list[str]:
    """Every file and link in `out` (repository paths), the top `.git` and the marker left out."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(out):
        here = Path(dirpath)
        if here == out:
            dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames + [d for d in dirnames if (here / d).is_symlink()]:
            rel = (here / name).relative_to(out).as_posix()
            if rel != MARKER:
                found.append(rel)
    return sorted(found)


def _git_head(git_dir: Path) -> str:
    try:
        head = (git_dir / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            ref_file = git_dir / ref
            if ref_file.is_file():
                return ref_file.read_text().strip()
            for line in (git_dir / "packed-refs").read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split(" ", 1)[0]
            return ""
        return head
    except OSError:
        return ""


def check_out_dir(out: Path, force: bool) -> ExportMarker | None:
    """An export goes into an empty (or new) directory, or with `force` replaces an earlier export.

    `force` never replaces a directory that an export did not write, and within an earlier export
    only the files it listed in its marker, unchanged: an agent passing the wrong path (a home
    directory, a project) must not get anything deleted. Returns the marker to replace."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise PaperCoderError(f"{out} exists and is not a directory")
    if not out.exists() or not any(out.iterdir()):
        return None
    if not force:
        raise PaperCoderError(
            f"{out} is not empty; choose an empty directory, or export with force to replace an earlier export"
        )
    marker = read_marker(out)
    changed: list[str] = []
    for rel, digest in marker.files.items():
        target = safe_join(out, rel)
        if target.is_symlink() or (target.exists() and not target.is_file()):
            changed.append(rel)
        elif target.is_file() and _sha256(target.read_bytes()) != digest:
            changed.append(rel)
    git_dir = out / ".git"
    if git_dir.exists() and (not marker.git_commit or _git_head(git_dir) != marker.git_commit):
        changed.append(".git (commits or a repository the export did not make)")
    if changed:
        raise PaperCoderError(
            f"{out} holds an earlier export, but these changed since: {', '.join(changed[:10])}"
            + (f" and {len(changed) - 10} more" if len(changed) > 10 else "")
            + "; force would lose that work. Move them away or export to another directory."
        )
    return marker


def _replace_export(out: Path, staging: Path, marker: ExportMarker) -> None:
    """Swap an earlier export's own files for the new ones; every other file in `out` stays."""
    new_files = {p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file()}
    new_files = {p for p in new_files if not p.startswith(".git/")}
    unlisted = set(_existing_files(out)) - set(marker.files)
    clash = sorted(
        p
        for p in unlisted
        if p in new_files or any(p.startswith(n + "/") or n.startswith(p + "/") for n in new_files)
    )
    if clash:
        raise PaperCoderError(
            f"{out}: {', '.join(clash[:10])} {'is' if len(clash) == 1 else 'are'} not from the earlier "
            "export and would be overwritten; move them away or export to another directory"
        )
    root = out.resolve()
    for rel in marker.files:
        target = safe_join(out, rel)
        if target.is_file():
            target.unlink()
            parent = target.parent
            while parent != root and root in parent.parents and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
    if marker.git_commit and (out / ".git").is_dir():
        shutil.rmtree(out / ".git")
    for rel in sorted(new_files):
        target = safe_join(out, rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / rel, target)
    if (staging / ".git").is_dir():
        os.replace(staging / ".git", out / ".git")
    shutil.rmtree(staging)


def check_export_paths(files: dict[str, str]) -> None:
    """The path policy again, over everything about to be written (the store may predate it)."""
    for rel in files:
        if normalize_repo_path(rel) != rel:
            raise UnsafePath(f"file path {rel!r} is not in its normal form; nothing was exported")
    check_path_set(files)
    problems = requirements_problems(files.get("requirements.txt", ""))
    for rel, content in files.items():
        if rel != "requirements.txt" and rel.endswith("requirements.txt"):
            problems += requirements_problems(content, source=rel)
    if problems:
        raise StageError("nothing was exported: " + "; ".join(problems[:5]))


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
    check_export_paths(files)
    status_complete = run_status(store, run_id).complete
    out = Path(out_dir).expanduser()
    previous = check_out_dir(out, force)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".papercoder-export-", dir=out.parent))
    except OSError as exc:
        raise PaperCoderError(f"cannot export to {out}: {exc}") from exc
    staging.chmod(0o755)  # mkdtemp makes it private; the repository is an ordinary directory
    try:
        written: dict[str, str] = {}
        for rel, content in files.items():
            target = safe_join(staging, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            # Re-check after creating parents: a directory component must not be a link out.
            safe_join(staging, rel)
            data = content.encode("utf-8")
            target.write_bytes(data)
            written[rel] = _sha256(data)
        (staging / "reproduce.sh").chmod(0o755)
        message = f"Generated by papercoder-mcp from run {run_id}"
        commit = commit_tree(staging, message, exclude=(MARKER,)) if git else ""
        marker = ExportMarker(run_id=run_id, exported_at=now_iso(), files=written, git_commit=commit)
        (staging / MARKER).write_text(marker.model_dump_json(indent=1) + "\n", encoding="utf-8")
        if previous is not None:
            _replace_export(out, staging, previous)
        else:
            if out.exists():
                out.rmdir()  # empty: check_out_dir said so
            staging.rename(out)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise PaperCoderError(f"export to {out} failed, nothing was exported: {exc}") from exc
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
