"""What a run has, and the one definition of "complete" that every surface uses.

Every step of the DAG is done, stale (its inputs changed since), missing, or (for
verification) failed. A run is complete when every step is done and fresh and the
verification of the files as they are now passed: the orchestrator, `get_run`,
`run_pipeline`, `list_runs`, the manifest resource, `show` and export all ask
`run_status` (or `is_complete`) and nothing else.

A run's lifecycle (`Run.status`) is what last happened to it: created, running,
needs-input (work is left that another call, a client's or an agent's answer,
or a higher budget must do), verified, failed, exported.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from papercoder_mcp.errors import PaperCoderError
from papercoder_mcp.pipeline import verification as checks
from papercoder_mcp.stages import (
    ANALYZE_FILE,
    CHECK_COVERAGE,
    DESIGN_ARCHITECTURE,
    GENERATE_FILE,
    ORDER_FILES,
    PLANNING_STAGES,
    Stage,
    StageContext,
)
from papercoder_mcp.stages.inputs import architecture, file_order
from papercoder_mcp.store import Store

StepStatus = Literal["done", "stale", "missing", "failed"]
Lifecycle = Literal["created", "running", "needs-input", "verified", "failed", "exported"]
VERIFY_STEP = "verify"


class Step(BaseModel):
    stage: str
    key: str = ""
    status: StepStatus
    version: int | None = None
    warnings: list[str] = Field(default_factory=list)


class RunStatus(BaseModel):
    run_id: str
    title: str
    status: str = Field(
        description="the run's lifecycle: created, running, needs-input, verified, failed, exported"
    )
    complete: bool = Field(
        description="every step done and fresh and the current verification passed: the repository can be exported"
    )
    executed: bool = Field(
        False, description="the current verification ran the tests and smoke mode, and they passed"
    )
    steps: list[Step]
    files: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list, description="why the run is not complete, step by step")
    cost_usd: float
    next_step: str = Field("", description="the next call to make, e.g. analyze_file('model.py') or verify()")


def _step(stage: Stage, ctx: StageContext, key: str = "") -> Step:
    art = stage.current(ctx, key)
    if art is None:
        return Step(stage=stage.name, key=key, status="missing")
    fresh = stage.is_fresh(ctx, key)
    return Step(
        stage=stage.name,
        key=key,
        status="done" if fresh else "stale",
        version=art.version,
        warnings=list(art.metadata.get("warnings", [])),
    )


def executed(store: Store, run_id: str) -> bool:
    """The verification of the files as they are now ran their tests and smoke mode, and passed."""
    found = checks.current(store, run_id)
    smoke = found.verification.smoke if found is not None else None
    return bool(smoke and smoke.ran and smoke.installed and found and found.verification.passed)


def _verify_step(store: Store, run_id: str) -> tuple[Step, list[str]]:
    found = checks.current(store, run_id)
    if found is None:
        status: StepStatus = "stale" if checks.latest(store, run_id) is not None else "missing"
        return Step(stage=VERIFY_STEP, status=status), []
    errors = [
        f"{f.file}:{f.line or ''} {f.kind}: {f.message}"
        for f in found.verification.findings
        if f.severity == "error"
    ]
    return Step(stage=VERIFY_STEP, status="failed" if errors else "done", version=found.version), errors


def run_status(store: Store, run_id: str) -> RunStatus:
    run = store.get_run(run_id)
    ctx = StageContext(store=store, run_id=run_id)
    steps = [_step(stage, ctx) for stage in PLANNING_STAGES]
    files: list[str] = []
    generation: list[str] = []
    unreadable: tuple[str, str] | None = None  # (stage to redo, why) when a stored design cannot load
    # A design or file order stored before a rule it now breaks is done by its hash, yet cannot load.
    for done, stage, load in (
        (steps[1], DESIGN_ARCHITECTURE, architecture),
        (steps[2], ORDER_FILES, file_order),
    ):
        if done.status != "done" or unreadable is not None:
            break
        try:
            load(ctx)
        except PaperCoderError as exc:
            unreadable = (stage.name, str(exc))
    if unreadable is None and all(s.status == "done" for s in steps[:3]):
        order = file_order(ctx)
        files, generation = order.order, order.generation_order()
    steps += [_step(ANALYZE_FILE, ctx, path) for path in files]
    steps += [_step(GENERATE_FILE, ctx, path) for path in generation]
    generated = bool(files) and all(s.status == "done" for s in steps)
    errors: list[str] = []
    if generated:
        verify, errors = _verify_step(store, run_id)
        steps.append(verify)
        steps.append(_step(CHECK_COVERAGE, ctx))  # the paper mapped to the code, once it all exists
    problems = [
        f"{s.stage}{' ' + s.key if s.key else ''}: {s.status}" for s in steps if s.status != "done"
    ] + [f"verification error: {e}" for e in errors]
    if unreadable is not None:
        problems.append(unreadable[1])
    elif not files:
        problems.append("the file order is not done yet")
    complete = generated and not problems
    lifecycle = run.status
    if complete and lifecycle in ("created", "running", "needs-input", "failed"):
        # The last answer came by submit_artifact (or an edit) after the pipeline call that set it.
        lifecycle = "verified"
    return RunStatus(
        run_id=run_id,
        title=run.title,
        status=lifecycle,
        complete=complete,
        executed=complete and executed(store, run_id),
        steps=steps,
        files=files,
        problems=problems,
        cost_usd=store.total_cost(run_id),
        next_step=f"{unreadable[0]}()" if unreadable else _next(steps, files, store, run_id),
    )


def is_complete(store: Store, run_id: str) -> bool:
    return run_status(store, run_id).complete


def _next(steps: list[Step], files: list[str], store: Store, run_id: str) -> str:
    pending = next((s for s in steps if s.status != "done"), None)
    if pending is None:
        return "" if files else "order_files()"
    if pending.stage == VERIFY_STEP:
        if pending.status == "failed":
            found = checks.current(store, run_id)
            bad = (
                sorted({f.file for f in found.verification.findings if f.severity == "error"})
                if found
                else []
            )
            in_repo = [f for f in bad if f in files]
            return f"repair_file({in_repo[0]!r})" if in_repo else "verify_repo()"
        return "verify_repo()"
    return f"{pending.stage}({pending.key!r})" if pending.key else f"{pending.stage}()"


def callable_steps(store: Store, run_id: str, status: RunStatus | None = None) -> list[tuple[str, str]]:
    """Stage calls a person or agent driving the stages one by one could make now: (tool, path).

    Advice for `next` lists only; the pipeline itself is scheduled by the orchestrator."""
    status = status or run_status(store, run_id)
    by_step = {(s.stage, s.key): s.status for s in status.steps}
    for stage in PLANNING_STAGES:
        if by_step.get((stage.name, "")) != "done":
            return [(stage.name, "")]
    if not status.files:
        return []
    order = file_order(StageContext(store=store, run_id=run_id))
    calls = [(ANALYZE_FILE.name, p) for p in order.order if by_step.get((ANALYZE_FILE.name, p)) != "done"]
    for path in order.generation_order():
        if (
            by_step.get((GENERATE_FILE.name, path)) == "done"
            or by_step.get((ANALYZE_FILE.name, path)) != "done"
        ):
            continue
        if all(by_step.get((GENERATE_FILE.name, d)) == "done" for d in order.written_before(path)):
            calls.append((GENERATE_FILE.name, path))
    all_code = all(by_step.get((GENERATE_FILE.name, p)) == "done" for p in order.order)
    if all_code and by_step.get((CHECK_COVERAGE.name, "")) != "done":
        calls.append((CHECK_COVERAGE.name, ""))
    return calls
