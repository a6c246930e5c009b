"""What a run has: every step of the DAG as done, stale (inputs changed), or missing; and what to do next."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from papercoder_mcp.errors import PaperCoderError
from papercoder_mcp.stages import ANALYZE_FILE, GENERATE_FILE, PLANNING_STAGES, Stage, StageContext
from papercoder_mcp.stages.inputs import file_order
from papercoder_mcp.store import Store

StepStatus = Literal["done", "stale", "missing"]


class Step(BaseModel):
    stage: str
    key: str = ""
    status: StepStatus
    version: int | None = None
    warnings: list[str] = Field(default_factory=list)


class RunStatus(BaseModel):
    run_id: str
    title: str
    status: str = Field(description="the status the last pipeline run recorded")
    complete: bool = Field(description="every step done and fresh: the repository can be exported")
    steps: list[Step]
    files: list[str] = Field(default_factory=list)
    cost_usd: float
    next_step: str = Field("", description="the next stage call to make, e.g. analyze_file('model.py')")


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


def run_status(store: Store, run_id: str) -> RunStatus:
    run = store.get_run(run_id)
    ctx = StageContext(store=store, run_id=run_id)
    steps = [_step(stage, ctx) for stage in PLANNING_STAGES]
    files: list[str] = []
    if all(s.status == "done" for s in steps[:3]):
        try:
            files = file_order(ctx).order
        except PaperCoderError:
            files = []
    for path in files:
        steps.append(_step(ANALYZE_FILE, ctx, path))
    for path in files:
        steps.append(_step(GENERATE_FILE, ctx, path))
    pending = next((s for s in steps if s.status != "done"), None)
    complete = pending is None and bool(files)
    next_step = ""
    if pending is not None:
        next_step = f"{pending.stage}({pending.key!r})" if pending.key else f"{pending.stage}()"
    elif not files:
        next_step = "order_files()"
    return RunStatus(
        run_id=run_id,
        title=run.title,
        status=run.status,
        complete=complete,
        steps=steps,
        files=files,
        cost_usd=store.total_cost(run_id),
        next_step=next_step,
    )


def ready_steps(store: Store, run_id: str, status: RunStatus | None = None) -> list[tuple[Stage, str]]:
    """Steps whose inputs are all done and fresh but which are not done themselves: runnable now.

    Planning stages come one at a time; then every missing analysis, and the code of every file
    whose analysis and dependencies' code are done.
    """
    status = status or run_status(store, run_id)
    by_step = {(s.stage, s.key): s.status for s in status.steps}
    for stage in PLANNING_STAGES:
        if by_step.get((stage.name, "")) != "done":
            return [(stage, "")]
    if not status.files:
        return []
    ctx = StageContext(store=store, run_id=run_id)
    order = file_order(ctx)
    ready: list[tuple[Stage, str]] = []
    for path in order.order:
        if by_step.get(("analyze_file", path)) != "done":
            ready.append((ANALYZE_FILE, path))
    for path in order.order:
        if by_step.get(("generate_file", path)) == "done" or by_step.get(("analyze_file", path)) != "done":
            continue
        if all(by_step.get(("generate_file", dep)) == "done" for dep in order.task(path).depends_on):
            ready.append((GENERATE_FILE, path))
    return ready
