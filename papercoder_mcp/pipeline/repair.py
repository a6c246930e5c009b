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
from papercoder_mcp.pipeline import verification as checks
from papercoder_mcp.pipeline.answers import AnswerDeferred
from papercoder_mcp.requirements import check_requirement
from papercoder_mcp.samplers.base import SampleRequest
from papercoder_mcp.stages import REPAIR_FILE, StageContext, run_stage
from papercoder_mcp.stages.inputs import architecture, file_order
from papercoder_mcp.stages.repair_file import finding_line
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

StopReason = Literal["clean", "no_progress", "max_rounds", "budget", "repair_failed", "needs_input"]


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
    round: int = Field(0, description="repair rounds behind the current files")
    deferred: list[SampleRequest] = Field(default_factory=list, description="repairs waiting for an answer")
    deferred_how: list[str] = Field(default_factory=list)


def problems(v: Verification) -> list[Finding]:
    """Findings a repair round works on: errors and warnings in code files."""
    return [f for f in v.findings if f.severity != "info" and f.kind not in NOT_REPAIRED_IN_CODE]


def _is_plain_requirement(name: str) -> bool:
    # The name comes from an import in generated code; only a valid PEP 508 name may become a line.
    try:
        check_requirement(name)
    except ValueError:
        return False
    return True


def add_missing_requirements(ctx: StageContext, verification: Verification) -> list[str]:
    """Add the distributions that generated code imports but requirements.txt lacks (no model call).

    Changing the file order's package list would make every later artifact stale, so the fuller
    list is kept as the run's `requirements` artifact, which verification and export read."""
    missing = sorted(
        {
            f.detail
            for f in verification.findings
            if f.kind == "missing_requirement" and f.detail and _is_plain_requirement(f.detail)
        }
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
    files = {a.key: a.content for a in ctx.store.list_artifacts(ctx.run_id, "code")}
    config = ctx.store.find_artifact(ctx.run_id, "config")
    if config is not None:
        files["config.yaml"] = config.content
    requirements_txt = run_requirements(ctx.store, ctx.run_id, file_order(ctx))
    files["requirements.txt"] = requirements_txt
    return files, requirement_lines(requirements_txt), architecture(ctx).entry_point


def _key(ctx: StageContext, smoke: bool, unsandboxed: bool) -> checks.VerificationKey:
    """The key of a verification of the current files; with `smoke`, also what the executed run depends
    on (the environment builder, the interpreter and the sandbox options)."""
    execution = ""
    if smoke:
        files, requirements, _ = executed_files(ctx)
        execution = execution_key(
            files, requirements, default_builder(), ExecutionOptions(unsandboxed=unsandboxed)
        )
    return checks.key_for(ctx.store, ctx.run_id, smoke=smoke, unsandboxed=unsandboxed, execution=execution)


def current_verification(
    ctx: StageContext, *, smoke: bool = False, unsandboxed: bool = False
) -> Verification | None:
    """The stored verification when it checked exactly the current files with exactly these options."""
    found = checks.current(ctx.store, ctx.run_id, _key(ctx, smoke, unsandboxed))
    return found.verification if found is not None else None


def _verify(ctx: StageContext, smoke: bool, unsandboxed: bool) -> checks.StoredVerification:
    """Static checks, then (with `smoke`) executed verification in the sandbox; stored, or reused when current.

    Blocking (it installs and runs code): async callers run it in a worker thread."""
    key = _key(ctx, smoke, unsandboxed)
    reused = checks.current(ctx.store, ctx.run_id, key)
    if reused is not None:
        return reused
    previous = checks.latest(ctx.store, ctx.run_id)
    if previous is not None and checks.same_code(ctx.store, ctx.run_id, previous.key, key):
        # A repair that left every file as it was: checking (and running) the same code again would
        # find the same. Stored under the new versions, so the round is counted and the loop stops.
        return checks.store_verification(
            ctx.store,
            ctx.run_id,
            previous.verification,
            key,
            previous.problems,
            carried_from=previous.version,
        )
    verification = verify_run(ctx.store, ctx.run_id)
    if smoke:
        files, requirements, entry_point = executed_files(ctx)
        result, findings = execute_repository(
            files,
            entry_point=entry_point,
            requirements=requirements,
            options=ExecutionOptions(unsandboxed=unsandboxed),
            smoke_argv=architecture(ctx).smoke_argv(),  # the command the design planned, tried first
        )
        verification = verification.model_copy(
            update={"smoke": result, "findings": [*verification.findings, *findings]}
        )
    files_in_order = set(order_or_empty(ctx))
    count = len([f for f in problems(verification) if f.file in files_in_order])
    return checks.store_verification(ctx.store, ctx.run_id, verification, key, count)


def order_or_empty(ctx: StageContext) -> list[str]:
    try:
        return file_order(ctx).order
    except PaperCoderError:
        return []


def verify_and_store(ctx: StageContext, *, smoke: bool = False, unsandboxed: bool = False) -> Verification:
    """Verify the current files (or reuse the stored result that checked exactly them, so). Blocking."""
    return _verify(ctx, smoke, unsandboxed).verification


async def verify_and_repair(
    ctx: StageContext, *, rounds: int = DEFAULT_ROUNDS, smoke: bool = False, unsandboxed: bool = False
) -> RepairReport:
    """Verify, then repair round by round; resumable across calls (see pipeline/verification.py).

    A repair whose answer cannot arrive in this call (a client round, a handoff) leaves the
    loop waiting: `stopped="needs_input"` with the deferred requests; the next call picks the
    loop up where the store says it is. With `smoke`, every round re-runs the tests and the smoke
    mode, so a repair is judged by what actually runs."""
    verify = functools.partial(_verify, ctx, smoke, unsandboxed)
    reused = current_verification(ctx, smoke=smoke, unsandboxed=unsandboxed) is not None
    state = await anyio.to_thread.run_sync(verify)
    history: list[RepairRound] = []
    files = set(file_order(ctx).order)
    if add_missing_requirements(ctx, state.verification):
        state = await anyio.to_thread.run_sync(verify)
        reused = False

    def report(
        stopped: StopReason, message: str, deferred: list[AnswerDeferred] | None = None
    ) -> RepairReport:
        return RepairReport(
            verification=state.verification,
            rounds=history,
            stopped=stopped,
            message=message,
            reused=reused and not history,
            round=state.round,
            deferred=[d.request for d in deferred or []],
            deferred_how=sorted({d.how for d in deferred or []}),
        )

    def outstanding() -> list[Finding]:
        # A warning on a file the model answered UNCHANGED to is answered: it looked, and the warning
        # says the file may stay as it is. An error stays outstanding whatever the model says of it.
        reviewed = reviewed_findings(ctx, files)
        return [
            f
            for f in problems(state.verification)
            if f.file in files
            and not (f.severity == "warning" and finding_line(f) in reviewed.get(f.file, set()))
        ]

    while True:
        todo = outstanding()
        if not todo:
            kept = [f for f in problems(state.verification) if f.file in files]
            note = f"; {len(kept)} warning(s) the model reviewed and left as it is" if kept else ""
            return report("clean", _clean(state.verification) + note)
        if state.round >= rounds:
            return report("max_rounds", f"{len(todo)} problem(s) remain after {state.round} repair round(s)")
        if state.round > 0 and state.problems_before is not None and len(todo) >= state.problems_before:
            return report(
                "no_progress",
                f"repair round {state.round} fixed nothing ({len(todo)} problem(s) remain); stopping",
            )
        targets = sorted({f.file for f in todo})
        failed: list[str] = []
        deferred: list[AnswerDeferred] = []
        changed = False

        for path in targets:
            try:
                await run_stage(REPAIR_FILE, ctx, path)
                changed = True
            except AnswerDeferred as wait:
                deferred.append(wait)
            except BudgetExceeded as exc:
                history.append(_unchanged(state.round + 1, targets, len(todo), [str(exc)]))
                return report("budget", str(exc))
            except PaperCoderError as exc:
                failed.append(f"{path}: {exc}")
        if deferred:
            return report(
                "needs_input",
                f"repair round {state.round + 1}: {len(deferred)} repair(s) wait for an answer",
                deferred,
            )
        if not changed:
            history.append(_unchanged(state.round + 1, targets, len(todo), failed))
            return report("repair_failed", "no repair of this round succeeded: " + "; ".join(failed))
        state = await anyio.to_thread.run_sync(verify)
        after = outstanding()
        history.append(
            RepairRound(
                round=state.round,
                files=targets,
                problems_before=len(todo),
                problems_after=len(after),
                failed=failed,
            )
        )


def reviewed_findings(ctx: StageContext, files: set[str]) -> dict[str, set[str]]:
    """Per file whose current code is a repair answered UNCHANGED, the findings that answer saw."""
    out: dict[str, set[str]] = {}
    for path in files:
        code = ctx.store.find_artifact(ctx.run_id, "code", path)
        if code is not None and code.metadata.get("unchanged"):
            out[path] = set(code.metadata.get("answered") or [])
    return out


def _unchanged(number: int, targets: list[str], problems: int, why: list[str]) -> RepairRound:
    """A round that changed no file: its problems are all still there."""
    return RepairRound(
        round=number, files=targets, problems_before=problems, problems_after=problems, failed=why
    )


def _clean(v: Verification) -> str:
    left = [f for f in v.findings if f.severity == "error"]
    return "verification passed" if not left else f"{len(left)} error(s) that a code repair cannot fix remain"
