"""The MCP server's core: which model a call uses, and driving stages and the pipeline through it.

Where the model comes from, in order (`auto`), unless the server or the call forces one:
1. the Anthropic API, when the server has ANTHROPIC_API_KEY;
2. the client's own model, when it declared sampling: inside the tool call as
   InputRequiredResult rounds (2026-07-28 on), or as classic `sampling/createMessage`
   requests mid-call (earlier protocols, over a connection with a way back);
3. the calling agent itself (handoff: it gets the prompt and answers with submit_artifact).

Every route runs the same scheduler (`pipeline/orchestrator.py`) and the same stages; only the
sampler differs. Tools in `tools/` are thin wrappers over `drive_stage` and `drive_pipeline`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.subscriptions import InMemorySubscriptionBus, ResourceUpdated
from mcp.types import InputRequiredResult

from papercoder_mcp.errors import PaperCoderError
from papercoder_mcp.ids import RequestKey
from papercoder_mcp.kinds import artifact_uri
from papercoder_mcp.paths import normalize_repo_path
from papercoder_mcp.pipeline.answers import (
    AnswerBook,
    AnswerDeferred,
    HandoffSampler,
    RoundSampler,
    request_key_of,
)
from papercoder_mcp.pipeline.orchestrator import PipelineOptions, PipelineResult, ProgressEvent, run_pipeline
from papercoder_mcp.pipeline.status import RunStatus, callable_steps, run_status
from papercoder_mcp.samplers.base import Sampler, SampleRequest
from papercoder_mcp.server.classic_sampling import DEFAULT_CALL_SECONDS, ClassicSampler
from papercoder_mcp.server.client_sampling import _text_of, find_stage, sampling_request
from papercoder_mcp.server.handoff import HandoffRequest, make_handoff, make_step_handoff
from papercoder_mcp.server.results import PipelineToolResult, StageToolResult
from papercoder_mcp.stages import Stage, StageContext, StageResult, run_stage, set_guidance
from papercoder_mcp.stages.base import Prepared, request_hash
from papercoder_mcp.store import Store
from papercoder_mcp.store.records import Artifact

SamplerMode = Literal["auto", "anthropic", "sampling", "handoff"]
Resolved = Literal["anthropic", "sampling", "handoff"]
Route = Literal["anthropic", "rounds", "classic", "handoff"]
# The SDK client gives up after 10 input-required rounds; hand back a partial result before that.
DEFAULT_MAX_ROUNDS = 8
ROUNDS_VERSION = "2026-07-28"


@dataclass
class App:
    """What every tool call shares: the store, the sampler policy, the resource-change bus."""

    store: Store
    mode: SamplerMode = "auto"
    model: str | None = None
    max_rounds: int = DEFAULT_MAX_ROUNDS
    call_seconds: float = DEFAULT_CALL_SECONDS
    bus: InMemorySubscriptionBus = field(default_factory=InMemorySubscriptionBus)
    anthropic_sampler: Sampler | None = None
    # Sessions of clients before 2026-07-28 that subscribed with resources/subscribe, by URI.
    legacy_subscribers: dict[str, list[Any]] = field(default_factory=dict)

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
        for uri in (artifact_uri(run_id, kind, key), f"papercoder://runs/{run_id}", "papercoder://runs"):
            await self.bus.publish(ResourceUpdated(uri=uri))
            for session in list(self.legacy_subscribers.get(uri, [])):
                try:
                    await session.send_resource_updated(uri)
                except Exception:  # the client went away: forget its subscription
                    self.legacy_subscribers[uri].remove(session)


def app_of(ctx: Context) -> App:
    app = ctx.request_context.lifespan_context
    assert isinstance(app, App), "the server was built without build_server()"
    return app


def sampling_route(ctx: Context) -> tuple[Literal["rounds", "classic"] | None, str]:
    """How this client can sample, or why it cannot (the reason names the real cause)."""
    caps = ctx.client_capabilities
    version = ctx.protocol_version or ""
    if not (caps and caps.sampling):
        return None, "this client does not declare the sampling capability"
    if version >= ROUNDS_VERSION:
        return "rounds", ""
    if ctx.request_context.session.can_send_request:
        return "classic", ""
    return None, (
        f"this client declares sampling, but its protocol ({version}) takes sampling only as a request sent "
        "mid-call and this connection has no way back for one (stateless HTTP)"
    )


def client_can_sample(ctx: Context) -> bool:
    return sampling_route(ctx)[0] is not None


def route_of(app: App, requested: SamplerMode, ctx: Context) -> tuple[Route, str]:
    mode = requested if requested != "auto" else app.mode
    if mode == "anthropic":
        if app.anthropic() is None:
            raise ToolError("sampler 'anthropic' needs ANTHROPIC_API_KEY in the server's environment")
        return "anthropic", ""
    route, why = sampling_route(ctx)
    if mode == "sampling":
        if route is None:
            raise ToolError(f"sampler 'sampling' is not possible: {why}; use sampler 'handoff' instead")
        return route, ""
    if mode == "handoff":
        return "handoff", ""
    if app.anthropic() is not None:
        return "anthropic", ""
    if route is not None:
        return route, ""
    return "handoff", (
        f"The server has no ANTHROPIC_API_KEY and {why}, so the prompt is handed to you: write the answer "
        "and send it with submit_artifact."
    )


def resolve_mode(app: App, requested: SamplerMode, ctx: Context) -> tuple[Resolved, str]:
    """The model source in three words (the evaluation tools branch on it)."""
    route, note = route_of(app, requested, ctx)
    return ("sampling" if route in ("rounds", "classic") else route), note  # type: ignore[return-value]


def suggest_next(store: Store, run_id: str, limit: int = 6, status: RunStatus | None = None) -> list[str]:
    """Calls that make sense now, from the one status function (verification and repair included)."""
    status = status or run_status(store, run_id)
    if status.complete:
        return [f"export_repo(run_id={run_id!r}, out_dir=...)"]
    verify = next((s for s in status.steps if s.stage == "verify"), None)
    if verify is not None and verify.status != "done":
        if verify.status == "failed" and status.next_step.startswith("repair_file("):
            path = status.next_step[len("repair_file(") : -1]
            return [f"repair_file(run_id={run_id!r}, path={path})", f"run_pipeline(run_id={run_id!r})"]
        return [f"verify_repo(run_id={run_id!r})", f"run_pipeline(run_id={run_id!r})"]
    calls = [
        f"{name}(run_id={run_id!r}" + (f", path={key!r})" if key else ")")
        for name, key in callable_steps(store, run_id, status)[:limit]
    ]
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


class RoundCounter:
    """The round number rides request_state; losing it loses nothing (answers are in the store)."""

    @staticmethod
    def load(raw: str | None) -> int:
        try:
            return int(json.loads(raw).get("round", 0)) if raw else 0
        except (ValueError, AttributeError):
            return 0

    @staticmethod
    def dump(number: int) -> str:
        return json.dumps({"round": number})


def take_answers(app: App, ctx: Context, run_id: str) -> set[RequestKey]:
    """Store every answer the client sent with this call, keyed by the question it answers."""
    book = AnswerBook(app.store, run_id)
    taken: set[RequestKey] = set()
    for raw, response in (ctx.input_responses or {}).items():
        try:
            rkey = RequestKey.decode(raw)
            text, model, stop = _text_of(response)
        except PaperCoderError:
            continue  # not one of ours, or not a sampling answer: nothing to keep
        book.put(rkey, text, model=model, stop_reason=stop)
        taken.add(rkey)
    return taken


def sampler_for(app: App, ctx: Context, route: Route, run_id: str, note: str, *, deadline: bool) -> Sampler:
    if route == "anthropic":
        sampler = app.anthropic()
        assert sampler is not None
        return sampler
    if route == "classic":
        return ClassicSampler(
            ctx, seconds=app.call_seconds if deadline else None, store=app.store, run_id=run_id
        )
    if route == "rounds":
        return RoundSampler(AnswerBook(app.store, run_id))
    return HandoffSampler(AnswerBook(app.store, run_id), note)


def _prepared_of(request: SampleRequest) -> tuple[Stage, Prepared]:
    stage = find_stage(request.stage)
    if stage is None:
        raise ToolError(f"the step {request.stage} cannot be handed out")
    return stage, Prepared(
        stage=stage.name, key=request.key, request=request, input_hash=request_hash(request)
    )


def handoffs_for(run_id: str, requests: list[SampleRequest], include_context: bool) -> list[HandoffRequest]:
    out = []
    for request in requests:
        if find_stage(request.stage) is None or request.followups:
            out.append(make_step_handoff(run_id, request, include_context))
            continue
        stage, prepared = _prepared_of(request)
        out.append(make_handoff(run_id, stage, prepared, include_context))
    return out


async def round_of(
    store: Store, run_id: str, requests: list[SampleRequest], number: int
) -> InputRequiredResult:
    """One round of sampling requests, with the key pages of the original PDF as images."""
    asked = {request_key_of(r).encode(): await sampling_request(store, run_id, r) for r in requests}
    return InputRequiredResult(input_requests=asked, request_state=RoundCounter.dump(number))


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
        route, note = route_of(app, sampler, ctx)
        taken = take_answers(app, ctx, run_id) if route == "rounds" else set()
        chosen = sampler_for(app, ctx, route, run_id, note, deadline=False)
        if isinstance(chosen, RoundSampler) and force:
            chosen.only = taken  # a forced new version takes only answers given to this call
        sctx.sampler = chosen
        try:
            result = await run_stage(stage, sctx, key, force=force)
        except AnswerDeferred as wait:
            if wait.how == "round":
                number = RoundCounter.load(ctx.request_state) + 1
                if number > app.max_rounds:
                    raise ToolError(
                        f"no valid answer from the client's model within {app.max_rounds} rounds; call "
                        f"{stage.name} again (perhaps with guidance)"
                    ) from None
                return await round_of(app.store, run_id, [wait.request], number)
            (handoff,) = handoffs_for(run_id, [wait.request], include_context)
            return StageToolResult(
                run_id=run_id,
                stage=stage.name,
                key=key,
                status="handoff",
                sampler="agent",
                handoff=handoff,
                note=note,
                next=["submit_artifact(handoff_id=..., content=...)"],
            )
        if not result.skipped:
            await app.changed(run_id, result.artifact.kind, result.artifact.key)
        source = chosen.name if not result.skipped else str(result.artifact.metadata.get("source", ""))
        return shape_result(app, run_id, result, source, note if result.skipped else "")
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
    refine: bool = False,
    smoke: bool = False,
) -> PipelineToolResult | InputRequiredResult:
    """Run (or continue) every step of a run with the one scheduler; return when verified or when work
    must go back to the caller (a round of questions, handoffs, or a partial result to continue)."""
    app = app_of(ctx)
    try:
        app.store.get_run(run_id)
        route, note = route_of(app, sampler, ctx)
        if max_cost_usd is not None and route != "anthropic":
            # A cap on a model whose price the server cannot know would be a cap in name only.
            raise ToolError(
                f"max_cost_usd cannot be enforced with sampler {route!r}: the server does not know the price of "
                "the client's model (or the agent's); drop max_cost_usd, or give the server ANTHROPIC_API_KEY"
            )
        if route == "rounds":
            take_answers(app, ctx, run_id)
        chosen = sampler_for(app, ctx, route, run_id, note, deadline=True)
        options = PipelineOptions(
            concurrency=concurrency, max_cost_usd=max_cost_usd, refine=refine, smoke=smoke
        )
        result = await run_pipeline(
            app.store, run_id, chosen, options, _progress_reporter(app, ctx, route, run_id)
        )
        return await _pipeline_answer(app, ctx, run_id, route, chosen.name, result, include_context, note)
    except ToolError:
        raise
    except PaperCoderError as exc:
        raise ToolError(str(exc)) from exc


def _progress_reporter(
    app: App, ctx: Context, route: Route, run_id: str
) -> Callable[[ProgressEvent], Awaitable[None]]:
    async def progress(event: ProgressEvent) -> None:
        if event.kind not in ("step_finished", "step_skipped", "step_failed"):
            return
        if event.kind == "step_finished":
            stage = find_stage(event.stage)
            kind, key = (stage.kind, event.key) if stage is not None else ("", event.key)
            if event.stage == "verify":
                kind, key = "verification", ""
            elif event.stage == "refine":
                kind, _, key = event.key.partition(":")
            if kind:
                await app.changed(run_id, kind, key)
        if route == "classic":
            return  # the classic sampler reports after every answer, on its own monotonic counter
        label = f"{event.stage}{' ' + event.key if event.key else ''}: {event.kind.removeprefix('step_')}"
        await ctx.report_progress(event.done, event.total or None, label)

    return progress


async def _pipeline_answer(
    app: App,
    ctx: Context,
    run_id: str,
    route: Route,
    sampler_name: str,
    result: PipelineResult,
    include_context: bool,
    note: str,
) -> PipelineToolResult | InputRequiredResult:
    status = run_status(app.store, run_id)
    done = sum(s.status == "done" for s in status.steps)
    again = [f"run_pipeline(run_id={run_id!r})"]

    def answer(outcome: str, message: str, next_calls: list[str], **extra: object) -> PipelineToolResult:
        return PipelineToolResult(
            run_id=run_id,
            status=outcome,
            message=message,
            done=done,
            total=len(status.steps),
            cost_usd=result.total_cost_usd,
            sampler=sampler_name,
            steps=result.steps,
            next=next_calls,
            **extra,
        )

    if result.status == "needs_input" and "round" in result.deferred_how:
        number = RoundCounter.load(ctx.request_state) + 1
        if number <= app.max_rounds:
            return await round_of(app.store, run_id, result.deferred, number)
        return answer(
            "partial",
            f"{done} of {len(status.steps)} steps done; call run_pipeline again to continue (finished steps and "
            "every answer so far are kept)",
            again,
        )
    if result.status == "needs_input" and "handoff" in result.deferred_how:
        handoffs = handoffs_for(run_id, result.deferred, include_context)
        message = (
            f"{done} of {len(status.steps)} steps done. {len(handoffs)} step(s) can be done now: write each answer "
            "as its output_contract says and send it with submit_artifact, then call run_pipeline again. "
            + note
        ).strip()
        return answer(
            "handoff", message, ["submit_artifact(handoff_id=..., content=...)", *again], handoffs=handoffs
        )
    if result.status == "partial":
        return answer(
            "partial",
            f"{done} of {len(status.steps)} steps done; this call's time is up, call run_pipeline again to continue "
            "(finished steps are kept)",
            again,
        )
    outcome = {"verified": "verified", "budget_exceeded": "budget_exceeded"}.get(result.status, "failed")
    return answer(outcome, result.message, suggest_next(app.store, run_id, status=status))
