"""Verify, then repair what verification finds, round by round, within the run's budget.

Each round groups the findings by file, asks for a corrected file per file
(`repair_file`), and verifies again. It stops when the repository is clean, when
a round fixes nothing, after N rounds, or at the budget. Every repair is a new
version of the file's code artifact, and every call is in the call log.
"""

from __future__ import annotations

import functools
from typing import Literal

import anyio
from pydantic import BaseModel, Field

from papercoder_mcp.errors import BudgetExceeded, PaperCoderError
from papercoder_mcp.stages import REPAIR_FILE, StageContext, run_stage
from papercoder_mcp.stages.inputs import file_order
from papercoder_mcp.store import canonical_hash
from papercoder_mcp.verify import verify_run
from papercoder_mcp.verify.environments import default_builder
from papercoder_mcp.verify.models import Finding, Verification
from papercoder_mcp.verify.smoke import ExecutionOptions, execute_repository, execution_key, requirement_lines
from papercoder_mcp.verify.static import run_requirements

DEFAULT_ROUNDS = 3
# Findings about requirements.txt or config.yaml are not fixed by rewriting a code file.
NOT_REPAIRED_IN_CODE = {
    "unused_requirement",
    "missing_requirement",
    "config_number_as_string",
    "user_data",
    "install_failed",
    "requirement_unavailable",
}

StopReason = Literal["clean", "no_progress", "max_rounds", "budget", "repair_failed"]


class RepairRound(BaseModel):
    round: int
    files: list[str]
    problems_before: int
    problems_after: int
    failed: list[str] = Field(default_factory=list, description="files whose repair call failed, with why")


class RepairReport(BaseModel):
    verification: Verification
    rounds: list[RepairRound] = Field(default_factory=list)
    stopped: StopReason
    message: str
    reused: bool = Field(False, description="the stored verification already covered the current files")


def problems(v: Verification) -> list[Finding]:
    """Findings a repair round works on: errors and warnings in code files."""
    return [f for f in v.findings if f.severity != "info" and f.kind not in NOT_REPAIRED_IN_CODE]


def verification_hash(ctx: StageContext) -> str:
    """Identity of what was verified: the current version of every code file, the config, the requirements."""
    arts = ctx.store.list_artifacts(ctx.run_id)
    verified = ("code", "config", "file_order", "requirements")
    parts = sorted((a.kind, a.key, a.version) for a in arts if a.kind in verified)
    return canonical_hash(parts)


def add_missing_requirements(ctx: StageContext, verification: Verification) -> list[str]:
    """Add the distributions that generated code imports but requirements.txt lacks (no model call).

    Changing the file order's package list would make every later artifact stale, so the fuller
    list is kept as the run's `requirements` artifact, which verification and export read."""
    missing = sorted(
        {f.detail for f in verification.findings if f.kind == "missing_requirement" and f.detail}
    )
    if not missing:
        return []
    current = run_requirements(ctx.store, ctx.run_id, file_order(ctx))
    lines = current.rstrip("\n").split("\n") if current.strip() else []
    lines += [f"{dist}  # imported by the generated code; added by verification" for dist in missing]
    ctx.store.put_artifact(
        ctx.run_id, "requirements", "\n".join(lines) + "\n", format="text", metadata={"added": missing}
    )
    return missing


def executed_files(ctx: StageContext) -> tuple[dict[str, str], list[str], str]:
    """What executed verification runs: the current files (with config.yaml), requirements, entry point."""
    from papercoder_mcp.stages.inputs import architecture

    files = {a.key: a.content for a in ctx.store.list_artifacts(ctx.run_id, "code")}
    config = ctx.store.find_artifact(ctx.run_id, "config")
    if config is not None:
        files["config.yaml"] = config.content
    requirements_txt = run_requirements(ctx.store, ctx.run_id, file_order(ctx))
    files["requirements.txt"] = requirements_txt
    return files, requirement_lines(requirements_txt), architecture(ctx).entry_point


def _execution_key(ctx: StageContext, options: ExecutionOptions) -> str:
    files, requirements, _ = executed_files(ctx)
    return execution_key(files, requirements, default_builder(), options)


def current_verification(
    ctx: StageContext, *, smoke: bool = False, options: ExecutionOptions | None = None
) -> Verification | None:
    """The stored verification when it checked exactly the current files (and, if asked, ran exactly
    them, with the same requirements, interpreter and options)."""
    art = ctx.store.find_artifact(ctx.run_id, "verification")
    if art is None or art.input_hash != verification_hash(ctx):
        return None
    verification = Verification.model_validate_json(art.content)
    if not smoke:
        return verification
    if verification.smoke is None or verification.smoke.key != _execution_key(
        ctx, options or ExecutionOptions()
    ):
        return None
    return verification


def verify_and_store(ctx: StageContext, *, smoke: bool = False, unsandboxed: bool = False) -> Verification:
    """Static checks, then (with `smoke`) executed verification in the sandbox; stored, or reused when current.

    Blocking (it installs and runs code): async callers run it in a worker thread."""
    options = ExecutionOptions(unsandboxed=unsandboxed)
    reused = current_verification(ctx, smoke=smoke, options=options)
    if reused is not None:
        return reused
    verification = verify_run(ctx.store, ctx.run_id)
    if smoke:
        files, requirements, entry_point = executed_files(ctx)
        result, findings = execute_repository(
            files, entry_point=entry_point, requirements=requirements, options=options
        )
        verification = verification.model_copy(
            update={"smoke": result, "findings": [*verification.findings, *findings]}
        )
    ctx.store.put_artifact(
        ctx.run_id,
        "verification",
        verification.model_dump_json(indent=2),
        format="json",
        input_hash=verification_hash(ctx),
        metadata={"passed": verification.passed, "findings": len(verification.findings)},
    )
    return verification


async def verify_and_repair(
    ctx: StageContext, *, rounds: int = DEFAULT_ROUNDS, smoke: bool = False, unsandboxed: bool = False
) -> RepairReport:
    """Verify, repair, verify again, ... With `smoke`, every round re-runs the tests and the smoke mode,
    so a repair is judged by what actually runs."""
    options = ExecutionOptions(unsandboxed=unsandboxed)
    reused = current_verification(ctx, smoke=smoke, options=options) is not None
    verify = functools.partial(verify_and_store, ctx, smoke=smoke, unsandboxed=unsandboxed)
    verification = await anyio.to_thread.run_sync(verify)
    history: list[RepairRound] = []
    files = set(file_order(ctx).order)
    if add_missing_requirements(ctx, verification):
        verification = await anyio.to_thread.run_sync(verify)
        reused = False
    for number in range(1, rounds + 1):
        todo = [f for f in problems(verification) if f.file in files]
        if not todo:
            return RepairReport(
                verification=verification,
                rounds=history,
                stopped="clean",
                message=_clean(verification),
                reused=reused and not history,
            )
        targets = sorted({f.file for f in todo})
        failed: list[str] = []
        for path in targets:
            try:
                await run_stage(REPAIR_FILE, ctx, path)
            except BudgetExceeded as exc:
                history.append(
                    RepairRound(
                        round=number,
                        files=targets,
                        problems_before=len(todo),
                        problems_after=len(todo),
                        failed=[str(exc)],
                    )
                )
                return RepairReport(
                    verification=verification, rounds=history, stopped="budget", message=str(exc)
                )
            except PaperCoderError as exc:
                failed.append(f"{path}: {exc}")
        verification = await anyio.to_thread.run_sync(verify)
        after = [f for f in problems(verification) if f.file in files]
        history.append(
            RepairRound(
                round=number,
                files=targets,
                problems_before=len(todo),
                problems_after=len(after),
                failed=failed,
            )
        )
        if not after:
            return RepairReport(
                verification=verification, rounds=history, stopped="clean", message=_clean(verification)
            )
        if len(after) >= len(todo):
            return RepairReport(
                verification=verification,
                rounds=history,
                stopped="no_progress",
                message=f"round {number} fixed nothing ({len(after)} problem(s) remain); stopping",
            )
    remaining = len([f for f in problems(verification) if f.file in files])
    return RepairReport(
        verification=verification,
        rounds=history,
        stopped="max_rounds" if remaining else "clean",
        message=f"{remaining} problem(s) remain after {rounds} round(s)"
        if remaining
        else _clean(verification),
    )


def _clean(v: Verification) -> str:
    left = [f for f in v.findings if f.severity == "error"]
    return "verification passed" if not left else f"{len(left)} error(s) that a code repair cannot fix remain"
