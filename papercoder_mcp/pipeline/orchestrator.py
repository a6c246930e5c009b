"""The orchestrator: runs the stage DAG end to end, concurrently and resumably.

Scheduling: the four planning stages run in order. Then every file gets one
task that (1) analyses the file, (2) waits until the files its prompt reads have
code (every file of a lower dependency level: its dependencies' code and the
others' interfaces), (3) generates it. Analyses therefore all start at once, and
the files of one level are generated together once the levels below are done; a
priority limiter bounds how many model calls are in flight and lets critical
work (generations, long dependent chains) go first.

This is the one scheduler for every model source. A sampler that answers in the
call (the API, a classic-sampling client) is awaited; one whose answer arrives
later (a 2026-07-28 client's next round, an agent's submit_artifact) raises
`AnswerDeferred`, and the step waits while every step that does not depend on it
goes on. Verification and its repair rounds are steps like the others, so a run
is `verified` only by the one definition in `pipeline/status.py`.

Resumption needs no bookkeeping of its own: every stage compares the hash of
the inputs it would use now with the hash stored on its current artifact and
skips the call when they match. A killed run, re-run, pays only for what was
not finished; an edited artifact makes exactly its downstream stale.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Literal

import anyio
from pydantic import BaseModel, Field

from papercoder_mcp.errors import BudgetExceeded, PaperCoderError
from papercoder_mcp.pipeline.answers import AnswerDeferred
from papercoder_mcp.pipeline.budget import budget_for
from papercoder_mcp.pipeline.scheduling import PriorityLimiter, chain_lengths
from papercoder_mcp.samplers.base import Sampler, SampleRequest
from papercoder_mcp.stages import (
    ANALYZE_FILE,
    CHECK_COVERAGE,
    GENERATE_FILE,
    PLANNING_STAGES,
    REPAIR_FILE,
    Stage,
    StageContext,
    StageResult,
)
from papercoder_mcp.stages.base import StageSettings, run_stage
from papercoder_mcp.stages.check_coverage import coverage_findings, current_report
from papercoder_mcp.stages.inputs import architecture, file_order
from papercoder_mcp.stages.refine import refine
from papercoder_mcp.store import Store

EventKind = Literal["step_started", "step_finished", "step_skipped", "step_failed", "run_finished"]


class ProgressEvent(BaseModel):
    kind: EventKind
    stage: str = ""
    key: str = ""
    done: int = 0
    total: int = 0
    cost_usd: float | None = 0.0
    total_cost_usd: float = 0.0
    total_tokens: int = Field(0, description="tokens in and out of every call of the run so far")
    message: str = ""


ProgressCallback = Callable[[ProgressEvent], Awaitable[None] | None]
# reused: already done with the same inputs, so its stored result stands and nothing was paid.
StepState = Literal["done", "reused", "failed", "blocked", "budget", "pending"]


class StepOutcome(BaseModel):
    stage: str
    key: str = ""
    state: StepState
    message: str = ""
    cost_usd: float | None = 0.0
    version: int | None = None


class PipelineOptions(BaseModel):
    concurrency: int = Field(4, ge=1)
    max_cost_usd: float | None = Field(None, ge=0, description="a cap on spending; 0 allows none")
    settings: StageSettings = Field(default_factory=StageSettings)
    refine: bool = Field(False, description="critique and improve plan, design, order, config and analyses")
    verify: bool = Field(True, description="verify the generated files and repair what is found")
    repair_rounds: int = Field(3, ge=0)
    smoke: bool = Field(
        False, description="also install the requirements and run the tests and the smoke mode in the sandbox"
    )
    unsandboxed: bool = Field(False, description="run them without the sandbox (only where none works)")
    coverage_rounds: int = Field(
        1, ge=0, description="rounds of repairing what the coverage map finds missing from the planned files"
    )


# verified: complete by the one definition; unverified: generated, verification not asked for;
# needs_input: steps wait for answers (a round, a handoff); partial: the call ran out of time.
RunOutcome = Literal["verified", "unverified", "needs_input", "partial", "failed", "budget_exceeded"]


class PipelineResult(BaseModel):
    run_id: str
    status: RunOutcome
    steps: list[StepOutcome]
    total_cost_usd: float
    message: str
    deferred: list[SampleRequest] = Field(default_factory=list, description="questions steps wait for")
    deferred_how: list[str] = Field(default_factory=list, description="round, handoff, later")

    def failed_steps(self) -> list[StepOutcome]:
        return [s for s in self.steps if s.state not in ("done", "reused", "pending")]


class _Tracker:
    """Counts steps, forwards progress events and keeps the outcome of each step."""

    def __init__(self, store: Store, run_id: str, callback: ProgressCallback | None) -> None:
        self.store, self.run_id, self.callback = store, run_id, callback
        self.outcomes: list[StepOutcome] = []
        self.deferred: list[AnswerDeferred] = []
        self.total = 0  # unknown until the file order says how many files there are
        self.fixed_steps = len(PLANNING_STAGES)
        self.per_file = 2
        self.stop_new_calls = False

    def count_files(self, files: int) -> None:
        self.total = self.fixed_steps + self.per_file * files

    async def emit(self, event: ProgressEvent) -> None:
        if self.callback is None:
            return
        event.done = len(self.outcomes)
        event.total = self.total
        summary = self.store.cost_summary(self.run_id)
        event.total_cost_usd = summary.total_usd
        event.total_tokens = sum(
            s.input_tokens + s.output_tokens + s.cache_read_tokens + s.cache_write_tokens
            for s in summary.by_stage
        )
        result = self.callback(event)
        if inspect.isawaitable(result):
            await result

    async def refine(self, ctx: StageContext, key: str) -> bool:
        """Critique-then-improve one artifact; a failure here never fails the run (the original stays)."""
        if self.stop_new_calls:
            return False
        try:
            result = await refine(ctx, key)
        except AnswerDeferred as wait:
            self.wait("refine", key, wait)
            return False
        except BudgetExceeded as exc:
            self.stop_new_calls = True
            self.outcomes.append(StepOutcome(stage="refine", key=key, state="budget", message=str(exc)))
            return False
        except PaperCoderError as exc:
            self.outcomes.append(
                StepOutcome(stage="refine", key=key, state="done", message=f"not refined: {exc}")
            )
            return True
        note = result.note or (
            f"score {result.score}, {result.problems} problem(s), improved" if result.improved else ""
        )
        self.outcomes.append(
            StepOutcome(stage="refine", key=key, state="reused" if result.skipped else "done", message=note)
        )
        await self.emit(ProgressEvent(kind="step_finished", stage="refine", key=key, message=note))
        return True

    async def step(self, stage: Stage, ctx: StageContext, key: str = "") -> StageResult | None:
        """Run one stage; its outcome (done, skipped, failed, budget) is recorded either way."""
        if self.stop_new_calls:
            self.outcomes.append(
                StepOutcome(stage=stage.name, key=key, state="budget", message="not started: budget reached")
            )
            return None
        await self.emit(ProgressEvent(kind="step_started", stage=stage.name, key=key))
        try:
            result = await run_stage(stage, ctx, key)
        except AnswerDeferred as wait:
            self.wait(stage.name, key, wait)
            return None
        except BudgetExceeded as exc:
            self.stop_new_calls = True
            self.outcomes.append(StepOutcome(stage=stage.name, key=key, state="budget", message=str(exc)))
            await self.emit(ProgressEvent(kind="step_failed", stage=stage.name, key=key, message=str(exc)))
            return None
        except PaperCoderError as exc:
            self.outcomes.append(StepOutcome(stage=stage.name, key=key, state="failed", message=str(exc)))
            await self.emit(ProgressEvent(kind="step_failed", stage=stage.name, key=key, message=str(exc)))
            return None
        state: StepState = "reused" if result.skipped else "done"
        self.outcomes.append(
            StepOutcome(
                stage=stage.name,
                key=key,
                state=state,
                cost_usd=result.cost_usd,
                version=result.artifact.version,
                message="; ".join(result.warnings),
            )
        )
        await self.emit(
            ProgressEvent(
                kind="step_skipped" if result.skipped else "step_finished",
                stage=stage.name,
                key=key,
                cost_usd=result.cost_usd,
                message="; ".join(result.warnings),
            )
        )
        return result

    def wait(self, stage: str, key: str, deferred: AnswerDeferred) -> None:
        self.deferred.append(deferred)
        self.outcomes.append(StepOutcome(stage=stage, key=key, state="pending", message=str(deferred)))

    def block(self, stage: Stage, key: str, reason: str) -> None:
        self.outcomes.append(StepOutcome(stage=stage.name, key=key, state="blocked", message=reason))


async def run_pipeline(
    store: Store,
    run_id: str,
    sampler: Sampler,
    options: PipelineOptions | None = None,
    progress: ProgressCallback | None = None,
) -> PipelineResult:
    """Run (or resume) every stage of a run; returns a truthful account of what was done."""
    options = options or PipelineOptions()
    store.get_run(run_id)
    budget = budget_for(options.max_cost_usd, spent_usd=store.total_cost(run_id))
    ctx = StageContext(store=store, run_id=run_id, sampler=sampler, budget=budget, settings=options.settings)
    tracker = _Tracker(store, run_id, progress)
    tracker.fixed_steps = (
        len(PLANNING_STAGES) * (2 if options.refine else 1) + (1 if options.verify else 0) + 1
    )
    tracker.per_file = 3 if options.refine else 2
    # The step count depends on the number of files, which only the file order says: until it exists
    # the total is unknown (0, sent as none) rather than a number that later jumps.
    if store.find_artifact_metadata(run_id, "file_order") is not None:
        with contextlib.suppress(PaperCoderError, ValueError):
            tracker.count_files(len(file_order(ctx).files))
    store.update_run(run_id, status="running")

    planned = True
    for stage in PLANNING_STAGES:
        if await tracker.step(stage, ctx) is None:
            planned = False
            break
        if options.refine and not await tracker.refine(ctx, stage.kind):
            planned = False
            break
    if planned:
        await _files(ctx, tracker, options.concurrency, options.refine)
    if planned and options.verify and _all_ok(tracker):
        await _verify(ctx, tracker, options)
    if planned and _all_ok(tracker):
        # After verification and its repairs, so the map is of the code that will be exported.
        await _cover(ctx, tracker, options)
    return await _finish(store, run_id, tracker, options)


async def _cover(ctx: StageContext, tracker: _Tracker, options: PipelineOptions) -> None:
    """Map the paper onto the code; what the design placed in a file but the code lacks is repaired,
    verified again and mapped again, for at most `coverage_rounds` rounds (none without repairs).

    The round count is the number of code versions the run has mapped, so a run resumed after a
    deferred repair (a handoff, a client round) goes on where it stood and never loops; a round whose
    repairs change no file ends it too."""
    rounds = min(options.coverage_rounds, options.repair_rounds) if options.verify else 0
    for _ in range(rounds + 1):
        if await tracker.step(CHECK_COVERAGE, ctx) is None or tracker.stop_new_calls:
            return
        # Re-checking the map parses every file: off the event loop, like the stages' own work.
        targets = await anyio.to_thread.run_sync(_coverage_targets, ctx, rounds)
        if not targets:
            return
        before = {p: ctx.store.get_artifact(ctx.run_id, "code", p).content for p in targets}
        for path in targets:
            await tracker.step(REPAIR_FILE, ctx, path)
        if not _all_ok(tracker):
            return  # a repair waits for an answer, hit the budget, or failed
        await _verify(ctx, tracker, options)  # a repair stores a new version, even of the same code
        if not _all_ok(tracker):
            return
        if all(ctx.store.get_artifact(ctx.run_id, "code", p).content == before[p] for p in targets):
            return  # the repairs changed nothing: mapping again would find the same


def _coverage_targets(ctx: StageContext, rounds: int) -> list[str]:
    """The files a coverage repair round works on ([] when the map is stale or the rounds are spent)."""
    report = current_report(ctx)
    if report is None or _coverage_rounds(ctx) > rounds:
        return []
    order = file_order(ctx).order
    found = sorted({f.file for f in coverage_findings(report, architecture(ctx), order)})
    # A file repaired since this map was made has had its round: a repair that kept it as it was
    # (UNCHANGED, or the same code again) leaves the map fresh, and must not be asked again forever.
    art = CHECK_COVERAGE.current(ctx)
    mapped = (art.metadata.get("code_versions") or {}) if art is not None else {}
    return [p for p in found if not _repaired_since(ctx, p, mapped.get(p))]


def _repaired_since(ctx: StageContext, path: str, version: int | None) -> bool:
    if version is None:
        return False
    return any(
        a.version > version and a.metadata.get("repair") for a in ctx.store.history(ctx.run_id, "code", path)
    )


def _coverage_rounds(ctx: StageContext) -> int:
    """How many versions of the code the run has mapped: a map submitted twice for the same code
    (the same inputs) is one round."""
    return len({a.input_hash for a in ctx.store.history(ctx.run_id, CHECK_COVERAGE.kind)})


def _all_ok(tracker: _Tracker) -> bool:
    return not any(o.state not in ("done", "reused") for o in tracker.outcomes)


async def _verify(ctx: StageContext, tracker: _Tracker, options: PipelineOptions) -> None:
    from papercoder_mcp.pipeline.repair import (
        verify_and_repair,  # the verify package is large; load it when used
    )

    await tracker.emit(ProgressEvent(kind="step_started", stage="verify"))
    try:
        report = await verify_and_repair(
            ctx, rounds=options.repair_rounds, smoke=options.smoke, unsandboxed=options.unsandboxed
        )
    except PaperCoderError as exc:
        tracker.outcomes.append(StepOutcome(stage="verify", state="failed", message=str(exc)))
        return
    if report.stopped == "needs_input":
        for request in report.deferred:
            how = "handoff" if "handoff" in report.deferred_how else report.deferred_how[0]
            tracker.wait("repair_file", request.key, AnswerDeferred(request, how))  # type: ignore[arg-type]
        await tracker.emit(ProgressEvent(kind="step_finished", stage="verify", message=report.message))
        return
    errors = [f for f in report.verification.findings if f.severity == "error"]
    if report.stopped == "budget":
        state: StepState = "budget"
    elif errors:
        state = "failed"
    else:
        state = "reused" if report.reused else "done"
    detail = "; ".join(f"{f.file}:{f.line or ''} {f.kind}: {f.message}" for f in errors[:5])
    message = (
        report.message
        + (f": {detail}" if detail else "")
        + (f" ({len(report.rounds)} repair round(s))" if report.rounds else "")
    )
    tracker.outcomes.append(StepOutcome(stage="verify", state=state, message=message))
    kinds: dict[str, EventKind] = {"done": "step_finished", "reused": "step_skipped"}
    await tracker.emit(ProgressEvent(kind=kinds.get(state, "step_failed"), stage="verify", message=message))


async def _files(
    ctx: StageContext, tracker: _Tracker, concurrency: int, refine_analyses: bool = False
) -> None:
    order = file_order(ctx)
    tracker.count_files(len(order.files))
    limiter = PriorityLimiter(concurrency)
    chain = chain_lengths({t.path: t.depends_on for t in order.files})
    ready = {t.path: anyio.Event() for t in order.files}
    ok: dict[str, bool] = {}

    async def one_file(path: str, deps: list[str]) -> None:
        try:
            # Generations before analyses; within each, the longest chain of dependents first.
            async with limiter.slot((1, -chain[path])):
                analysed = await tracker.step(ANALYZE_FILE, ctx, path)
            if analysed is None:
                tracker.block(GENERATE_FILE, path, f"the analysis of {path} did not finish")
                ok[path] = False
                return
            if refine_analyses:
                async with limiter.slot((1, -chain[path])):
                    await tracker.refine(ctx, f"analysis:{path}")
            for dep in deps:  # what its prompt reads: the code of every file of a lower level
                await ready[dep].wait()
            failed_deps = [d for d in deps if not ok.get(d)]
            if failed_deps:
                tracker.block(
                    GENERATE_FILE, path, f"waits for {', '.join(failed_deps)}, which did not finish"
                )
                ok[path] = False
                return
            async with limiter.slot((0, -chain[path])):
                ok[path] = await tracker.step(GENERATE_FILE, ctx, path) is not None
        finally:
            ok.setdefault(path, False)
            ready[path].set()

    async with anyio.create_task_group() as tg:
        for path in order.order:
            tg.start_soon(one_file, path, order.written_before(path))


async def _finish(store: Store, run_id: str, tracker: _Tracker, options: PipelineOptions) -> PipelineResult:
    from papercoder_mcp.pipeline.status import run_status  # status reads the stages too

    bad = [o for o in tracker.outcomes if o.state not in ("done", "reused", "pending")]
    waiting = [o for o in tracker.outcomes if o.state == "pending"]
    status_now = run_status(store, run_id)
    how = sorted({d.how for d in tracker.deferred})
    status: RunOutcome
    if status_now.complete and not waiting:
        status = "verified"
        message = "every step is done and fresh and verification passed" + (
            "; its tests and smoke mode ran in the sandbox and passed"
            if status_now.executed
            else " (static checks: the tests and smoke mode have not run; verify with smoke runs them)"
        )
    elif waiting:
        # A verified run can still have work handed out: the coverage round's repairs. Saying
        # "verified" and dropping them would hide what the coverage check found missing.
        status = "partial" if how == ["later"] else "needs_input"
        message = (
            (
                "verification passed, and the coverage check found parts of the paper the code lacks: "
                f"{len(waiting)} repair(s) wait for an answer (or export the verified repository as it is)"
            )
            if status_now.complete
            else f"{len(waiting)} step(s) wait for an answer"
        )
        message += (f"; {len(bad)} step(s) did not finish" if bad else "") + "; finished steps are kept"
    elif any(o.state == "budget" for o in bad):
        status = "budget_exceeded"
        message = (
            f"stopped at the cost budget with {len(bad)} step(s) not done; raise the budget and run again: "
            "finished steps are not paid again"
        )
    elif bad:
        status = "failed"
        first = next((o for o in bad if o.state == "failed"), bad[0])
        message = (
            f"{len(bad)} step(s) did not finish; first: {first.stage}{' ' + first.key if first.key else ''}: "
            f"{first.message}. Run the pipeline again to retry them."
        )
    elif not options.verify:
        status = "unverified"
        message = (
            "every file was generated and validated; verification was not asked for, so it is not complete"
        )
    else:
        status = "failed"
        message = "the run is not complete: " + "; ".join(status_now.problems[:5])
    lifecycle = {"verified": "verified", "failed": "failed"}.get(status, "needs-input")
    if status_now.complete:
        lifecycle = "verified"  # the code is verified; work still offered does not undo that
    store.update_run(run_id, status=lifecycle)
    result = PipelineResult(
        run_id=run_id,
        status=status,
        steps=tracker.outcomes,
        total_cost_usd=store.total_cost(run_id),
        message=message,
        deferred=[d.request for d in tracker.deferred],
        deferred_how=how,
    )
    await tracker.emit(ProgressEvent(kind="run_finished", message=message))
    return result
