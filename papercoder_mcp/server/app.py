"""The MCP server's core: which model a call uses, and driving stages and the pipeline through it.

Where the model comes from, in order (`auto`), unless the server or the call forces one:
1. the Anthropic API, when the server has ANTHROPIC_API_KEY;
2. the client's own model, when it declared sampling (InputRequiredResult rounds);
3. the calling agent itself (handoff: it gets the prompt and answers with submit_artifact).

Tools in `tools/` are thin wrappers over `drive_stage` and `drive_pipeline`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.subscriptions import InMemorySubscriptionBus, ResourceUpdated
from mcp.types import InputRequiredResult

from papercoder_mcp.errors import PaperCoderError
from papercoder_mcp.paths import normalize_repo_path
from papercoder_mcp.pipeline.orchestrator import PipelineOptions, ProgressEvent, StepOutcome, run_pipeline
from papercoder_mcp.pipeline.status import RunStatus, ready_steps, run_status
from papercoder_mcp.samplers.base import Sampler
from papercoder_mcp.server.client_sampling import (
    SAMPLER_NAME,
    RoundState,
    collect,
    dump_state,
    request_key,
    sampling_request,
)
from papercoder_mcp.server.handoff import make_handoff
from papercoder_mcp.server.results import PipelineOutcome, PipelineToolResult, StageToolResult
from papercoder_mcp.stages import Stage, StageContext, StageResult, run_stage, set_guidance
from papercoder_mcp.store import Store
from papercoder_mcp.store.records import Artifact

SamplerMode = Literal["auto", "anthropic", "sampling", "handoff"]
Resolved = Literal["anthropic", "sampling", "handoff"]
# The SDK client gives up after 10 input-required rounds; hand back a partial result before that.
DEFAULT_MAX_ROUNDS = 8
KIND_PATHS = {"analysis": "analysis", "code": "files", "evaluation": "evaluation"}
STAGE_KINDS = {
    "make_plan": "plan",
    "design_architecture": "architecture",
    "order_files": "file_order",
    "write_config": "config",
    "analyze_file": "analysis",
    "generate_file": "code",
}


@dataclass
class App:
    """What every tool call shares: the store, the sampler policy, the resource-change bus."""

    store: Store
    mode: SamplerMode = "auto"
    model: str | None = None
    max_rounds: int = DEFAULT_MAX_ROUNDS
    bus: InMemorySubscriptionBus = field(default_factory=InMemorySubscriptionBus)
    anthropic_sampler: Sampler | None = None

    owns_sampler: bool = False

    def anthropic(self) -> Sampler | None:
        if self.anthropic_sampler is None and os.environ.get("ANTHROPIC_API_KEY"):
            from papercoder_mcp.samplers.anthropic import DEFAULT_MODEL, AnthropicSampler

            self.anthropic_sampler = AnthropicSampler(model=self.model or DEFAULT_MODEL)
            self.owns_sampler = True
        return self.anthropic_sampler

    async def aclose(self) -> None:
        """Close the HTTP client of a sampler this app made (one passed in belongs to its caller)."""
        sampler, self.anthropic_sampler = self.anthropic_sampler, None
        if self.owns_sampler and sampler is not None:
            close = getattr(sampler, "aclose", None)
            if close is not None:
                await close()

    async def changed(self, run_id: str, kind: str, key: str = "") -> None:
        """Tell subscribers that an artifact (and so its run's manifest) changed."""
        await self.bus.publish(ResourceUpdated(uri=artifact_uri(run_id, kind, key)))
        await self.bus.publish(ResourceUpdated(uri=f"papercoder://runs/{run_id}"))
        await self.bus.publish(ResourceUpdated(uri="papercoder://runs"))


def app_of(ctx: Context) -> App:
    app = ctx.request_context.lifespan_context
    assert isinstance(app, App), "the server was built without build_server()"
    return app


def artifact_uri(run_id: str, kind: str, key: str = "") -> str:
    base = f"papercoder://runs/{run_id}"
    if kind in KIND_PATHS:
        return f"{base}/{KIND_PATHS[kind]}/{key}"
    return f"{base}/{kind}"


def client_can_sample(ctx: Context) -> bool:
    caps = ctx.client_capabilities
    # InputRequiredResult exists only from the 2026-07-28 revision on; older sessions cannot take it.
    return bool(caps and caps.sampling) and (ctx.protocol_version or "") >= "2026-07-28"


def resolve_mode(app: App, requested: SamplerMode, ctx: Context) -> tuple[Resolved, str]:
    mode = requested if requested != "auto" else app.mode
    if mode == "anthropic":
        if app.anthropic() is None:
            raise ToolError("sampler 'anthropic' needs ANTHROPIC_API_KEY in the server's environment")
        return "anthropic", ""
    if mode == "sampling":
        if not client_can_sample(ctx):
            raise ToolError("sampler 'sampling' needs a client that declares the sampling capability")
        return "sampling", ""
    if mode == "handoff":
        return "handoff", ""
    if app.anthropic() is not None:
        return "anthropic", ""
    if client_can_sample(ctx):
        return "sampling", ""
    caps = ctx.client_capabilities
    why = (
        f"this client's protocol ({ctx.protocol_version}) predates sampling inside tool calls"
        if caps and caps.sampling
        else "this client cannot serve sampling"
    )
    return "handoff", (
        f"The server has no ANTHROPIC_API_KEY and {why}, so the prompt is handed to you: write the answer "
        "and send it with submit_artifact."
    )


def suggest_next(store: Store, run_id: str, limit: int = 6) -> list[str]:
    status = run_status(store, run_id)
    if status.complete:
        return [f"export_repo(run_id={run_id!r}, out_dir=...)"]
    calls = []
    for stage, key in ready_steps(store, run_id, status)[:limit]:
        calls.append(f"{stage.name}(run_id={run_id!r}" + (f", path={key!r})" if key else ")"))
    return calls or [f"get_run(run_id={run_id!r})"]


def shape_result(app: App, run_id: str, result: StageResult, sampler: str, note: str = "") -> StageToolResult:
    art: Artifact = result.artifact
    return StageToolResult(
        run_id=run_id,
        stage=result.stage,
        key=result.key,
        status="reused" if result.skipped else "done",
        sampler=sampler,
        version=art.version,
        resource=artifact_uri(run_id, art.kind, art.key),
        content=art.content,
        cost_usd=result.cost_usd,
        warnings=result.warnings,
        note=note,
        next=suggest_next(app.store, run_id),
    )


async def drive_stage(
    ctx: Context,
    stage: Stage,
    run_id: str,
    key: str = "",
    *,
    guidance: str | None = None,
    sampler: SamplerMode = "auto",
    force: bool = False,
    include_context: bool = False,
) -> StageToolResult | InputRequiredResult:
    """One stage for one MCP call, with whichever model the call resolves to."""
    app = app_of(ctx)
    try:
        app.store.get_run(run_id)
        key = normalize_repo_path(key) if stage.per_file else key
        sctx = StageContext(store=app.store, run_id=run_id)
        set_guidance(sctx, stage.name, key, guidance)
        mode, note = resolve_mode(app, sampler, ctx)
        if mode == "sampling" and ctx.input_responses:
            state = RoundState.load(ctx.request_state)
            got = collect(sctx, ctx.input_responses, state)
            for r in got.results:
                await app.changed(run_id, stage.kind, r.key)
            if got.results:
                return shape_result(app, run_id, got.results[0], SAMPLER_NAME)
            if got.reasks:
                return InputRequiredResult(input_requests=got.reasks, request_state=dump_state(state))
            if got.failures:
                raise ToolError(
                    got.failures[0] + ". Call the tool again (perhaps with guidance) or store a corrected "
                    "artifact with edit_artifact."
                )
        prepared = stage.prepare(sctx, key)
        current = stage.current(sctx, key)
        if current is not None and current.input_hash == prepared.input_hash and not force:
            reused = StageResult(stage=stage.name, key=key, artifact=current, skipped=True, cost_usd=0.0)
            return shape_result(app, run_id, reused, str(current.metadata.get("source", "")), note)
        if mode == "anthropic":
            sctx.sampler = app.anthropic()
            result = await run_stage(stage, sctx, key, force=True)
            await app.changed(run_id, stage.kind, key)
            return shape_result(app, run_id, result, "anthropic")
        if mode == "sampling":
            request = {request_key(prepared, 0): await sampling_request(app.store, run_id, prepared.request)}
            return InputRequiredResult(input_requests=request, request_state=dump_state(RoundState(round=1)))
        return StageToolResult(
            run_id=run_id,
            stage=stage.name,
            key=key,
            status="handoff",
            sampler="agent",
            handoff=make_handoff(run_id, stage, prepared, include_context),
            note=note,
            next=["submit_artifact(handoff_id=..., content=...)"],
        )
    except ToolError:
        raise
    except PaperCoderError as exc:
        raise ToolError(str(exc)) from exc


async def drive_pipeline(
    ctx: Context,
    run_id: str,
    *,
    sampler: SamplerMode = "auto",
    concurrency: int = 4,
    max_cost_usd: float | None = None,
    include_context: bool = False,
) -> PipelineToolResult | InputRequiredResult:
    """Run (or continue) every stage of a run; returns when done or when work must go back to the caller."""
    app = app_of(ctx)
    try:
        app.store.get_run(run_id)
        mode, note = resolve_mode(app, sampler, ctx)
        if mode == "anthropic":
            return await _pipeline_api(app, ctx, run_id, concurrency, max_cost_usd)
        if mode == "sampling":
            return await _pipeline_sampling(app, ctx, run_id)
        return _pipeline_handoff(app, run_id, include_context, note)
    except ToolError:
        raise
    except PaperCoderError as exc:
        raise ToolError(str(exc)) from exc


def _progress(app: App, run_id: str) -> tuple[RunStatus, int, int]:
    """The run's status, and how many of its known steps are done."""
    status = run_status(app.store, run_id)
    return status, sum(s.status == "done" for s in status.steps), len(status.steps)


async def _pipeline_api(
    app: App, ctx: Context, run_id: str, concurrency: int, max_cost_usd: float | None
) -> PipelineToolResult:
    sampler = app.anthropic()
    assert sampler is not None

    async def progress(event: ProgressEvent) -> None:
        if event.kind in ("step_finished", "step_skipped", "step_failed"):
            if event.kind == "step_finished":
                kind = STAGE_KINDS.get(event.stage, "verification" if event.stage == "verify" else "")
                key = event.key if event.stage != "refine" else ""
                if event.stage == "refine":
                    kind, _, key = event.key.partition(":")
                if kind:
                    await app.changed(run_id, kind, key)
            label = f"{event.stage}{' ' + event.key if event.key else ''}: {event.kind.removeprefix('step_')}"
            await ctx.report_progress(event.done, event.total or None, label)

    options = PipelineOptions(concurrency=concurrency, max_cost_usd=max_cost_usd)
    result = await run_pipeline(app.store, run_id, sampler, options, progress)
    _, done, total = _progress(app, run_id)
    return PipelineToolResult(
        run_id=run_id,
        status=result.status,
        message=result.message,
        done=done,
        total=total,
        cost_usd=result.total_cost_usd,
        sampler="anthropic",
        steps=result.steps,
        next=suggest_next(app.store, run_id),
    )


async def _pipeline_sampling(app: App, ctx: Context, run_id: str) -> PipelineToolResult | InputRequiredResult:
    sctx = StageContext(store=app.store, run_id=run_id)
    state = RoundState.load(ctx.request_state) if ctx.input_responses else RoundState()
    got = collect(sctx, ctx.input_responses, state)
    steps = [
        StepOutcome(stage=r.stage, key=r.key, state="done", version=r.artifact.version, cost_usd=None)
        for r in got.results
    ]
    for r in got.results:
        await app.changed(run_id, r.artifact.kind, r.key)
    status, done, total = _progress(app, run_id)

    def result(outcome: PipelineOutcome, message: str, next_calls: list[str]) -> PipelineToolResult:
        return PipelineToolResult(
            run_id=run_id,
            status=outcome,
            message=message,
            done=done,
            total=total,
            cost_usd=app.store.total_cost(run_id),
            sampler=SAMPLER_NAME,
            steps=steps,
            next=next_calls,
        )

    again = [f"run_pipeline(run_id={run_id!r})"]
    if got.failures:
        return result("failed", "; ".join(got.failures) + ". Call run_pipeline again to retry.", again)
    if status.complete:
        app.store.update_run(run_id, status="complete")
        return result(
            "complete", "every stage finished and every file was generated", suggest_next(app.store, run_id)
        )
    if state.round >= app.max_rounds:
        return result(
            "partial",
            f"{done} of {total} steps done; call run_pipeline again to continue (finished steps are kept)",
            again,
        )
    asked = {k.rsplit("|", 2)[0] for k in got.reasks}
    requests = dict(got.reasks)
    for stage, key in ready_steps(app.store, run_id, status):
        if f"{stage.name}|{key}" in asked:
            continue
        prepared = stage.prepare(sctx, key)
        requests[request_key(prepared, 0)] = await sampling_request(app.store, run_id, prepared.request)
    if not requests:
        return result(
            "failed", "no step can run; see get_run for what is missing", [f"get_run(run_id={run_id!r})"]
        )
    state.round += 1
    await ctx.report_progress(done, total, f"asking the client's model for {len(requests)} step(s)")
    return InputRequiredResult(input_requests=requests, request_state=dump_state(state))


def _pipeline_handoff(app: App, run_id: str, include_context: bool, note: str) -> PipelineToolResult:
    sctx = StageContext(store=app.store, run_id=run_id)
    status, done, total = _progress(app, run_id)
    complete = status.complete
    ready = [] if complete else ready_steps(app.store, run_id, status)
    handoffs = [
        make_handoff(run_id, stage, stage.prepare(sctx, key), include_context) for stage, key in ready
    ]
    if complete:
        message = "every stage finished and every file was generated"
    else:
        message = (
            f"{done} of {total} steps done. {len(handoffs)} step(s) can be done now: write each answer as its "
            "output_contract says and send it with submit_artifact, then call run_pipeline again. " + note
        ).strip()
    return PipelineToolResult(
        run_id=run_id,
        status="complete" if complete else "handoff",
        message=message,
        done=done,
        total=total,
        cost_usd=app.store.total_cost(run_id),
        sampler="agent",
        handoffs=handoffs,
        next=suggest_next(app.store, run_id)
        if complete
        else ["submit_artifact(handoff_id=..., content=...)"],
    )
