"""Evaluation through whichever model an MCP call resolves to: the API, the client's sampling, the agent.

The judge's samples and the grader's batches are independent calls, so with
client sampling they all go out in one InputRequiredResult round (re-asks in the
next), and in handoff mode they are all handed out at once; each answer is
validated and stored exactly like one from the API, and the aggregate is made
once every part is stored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.subscriptions import ResourceUpdated
from mcp.types import InputRequiredResult
from pydantic import BaseModel, Field

from papercoder_mcp.errors import PaperCoderError
from papercoder_mcp.evaluation import grade, judge
from papercoder_mcp.evaluation.models import JudgeResult, RubricResult
from papercoder_mcp.evaluation.repo_context import DEFAULT_BUDGET_TOKENS
from papercoder_mcp.evaluation.rubric import DEFAULT_CATEGORIES
from papercoder_mcp.evaluation.steps import pending, prefix_blocks
from papercoder_mcp.pipeline.budget import budget_for
from papercoder_mcp.server.app import App, SamplerMode, app_of, route_of
from papercoder_mcp.server.classic_sampling import ClassicSampler
from papercoder_mcp.server.client_sampling import (
    SAMPLER_NAME,
    RoundState,
    asked_steps,
    collect,
    dump_state,
    request_key,
    to_create_message,
)
from papercoder_mcp.server.handoff import HandoffRequest, make_handoff
from papercoder_mcp.server.offload import off_loop
from papercoder_mcp.stages.base import Stage, StageContext
from papercoder_mcp.store import now_iso

EvalMode = Literal["judge", "rubric"]


class EvaluationToolResult(BaseModel):
    run_id: str
    mode: EvalMode
    status: Literal["done", "handoff"] = Field(
        description="done: the evaluation is stored (see judge or rubric); handoff: answer every handoff "
        "with submit_artifact, then call evaluate_repo again with the same arguments"
    )
    sampler: str = Field("", description="where the model came from: anthropic, mcp-sampling, agent")
    resource: str = Field("", description="the stored evaluation's resource URI")
    judge: JudgeResult | None = None
    rubric: RubricResult | None = None
    handoffs: list[HandoffRequest] = Field(default_factory=list)
    context: str = Field(
        "", description="with include_context: the paper and repository every handoff reads, sent once"
    )
    message: str = ""
    next: list[str] = Field(default_factory=list)


def evaluation_uri(run_id: str, key: str) -> str:
    return f"papercoder://runs/{run_id}/evaluation/{key}"


class EvalRequest(BaseModel):
    mode: EvalMode = "judge"
    samples: int = judge.DEFAULT_SAMPLES
    reference_dir: str | None = None
    rubric_path: str | None = None
    categories: list[str] | None = None
    batch_size: int = grade.DEFAULT_BATCH_SIZE
    budget_tokens: int = DEFAULT_BUDGET_TOKENS
    force: bool = False
    max_cost_usd: float | None = Field(None, ge=0, description="a cap on this evaluation's spending")


def _plan(sctx: StageContext, req: EvalRequest) -> tuple[Stage, list[str]]:
    if req.mode == "judge":
        keys = judge.plan_judge(
            sctx, samples=req.samples, reference_dir=req.reference_dir, budget_tokens=req.budget_tokens
        )
        return judge.STAGE, keys
    if not req.rubric_path:
        raise ToolError("mode 'rubric' needs rubric_path: a PaperBench rubric.json")
    keys = grade.plan_rubric(
        sctx,
        Path(req.rubric_path),
        categories=req.categories or DEFAULT_CATEGORIES,
        batch_size=req.batch_size,
        budget_tokens=req.budget_tokens,
    )
    return grade.STAGE, keys


def _done(
    app: App, run_id: str, req: EvalRequest, keys: list[str], sampler: str, cost: float | None
) -> EvaluationToolResult:
    sctx = StageContext(store=app.store, run_id=run_id)
    if req.mode == "judge":
        jr = judge.summarize_judge(sctx, keys, cost)
        spread = f", stdev {jr.stdev:.2f}, range {jr.min}-{jr.max}" if jr.stdev is not None else ""
        message = f"{jr.measure}: mean {jr.mean:.2f} / 5 over {jr.n} sample(s){spread}"
        return EvaluationToolResult(
            run_id=run_id,
            mode="judge",
            status="done",
            sampler=sampler,
            resource=evaluation_uri(run_id, judge.RESULT_KEY),
            judge=jr,
            message=message,
            next=[f"get_run(run_id={run_id!r})"],
        )
    rr = grade.summarize_rubric(sctx, keys, cost)
    return EvaluationToolResult(
        run_id=run_id,
        mode="rubric",
        status="done",
        sampler=sampler,
        resource=evaluation_uri(run_id, grade.RESULT_KEY),
        rubric=rr,
        message=f"{rr.measure}: {rr.score_percent:.1f}% of {len(rr.leaves)} graded requirements met",
        next=[f"get_run(run_id={run_id!r})"],
    )


# The eval prompts say "above are the paper and a repository"; handed off, they are resources.
CONTEXT_IN_RESOURCES = (
    'The paper and the repository this prompt refers to as "above" are not inlined: read every resource '
    "in context_resources first: the paper (papercoder://runs/RUN/paper), then each file of the repository "
    "with its line numbers (papercoder://runs/RUN/numbered/PATH), which is how you cite code (path:line; "
    "a citation of a file or line that does not exist makes the answer invalid)."
)
CONTEXT_ONCE = (
    'The paper and the repository this prompt refers to as "above" are in the `context` field of the '
    "evaluate_repo result (sent once for every handoff of the call), each file with its line numbers: cite "
    "code as path:line (a citation of a file or line that does not exist makes the answer invalid)."
)


def _handoff(
    run_id: str, stage: Stage, sctx: StageContext, key: str, include_context: bool
) -> HandoffRequest:
    handoff = make_handoff(run_id, stage, stage.prepare(sctx, key), True)
    prompt = handoff.prompt
    if include_context:
        # The shared context goes once into the result (see _handoffs), not into every handoff.
        return handoff.model_copy(update={"context": "", "prompt": CONTEXT_ONCE + "\n\n" + prompt})
    # The prefix is the paper and the repository (not the planning artifacts make_handoff assumes).
    base = f"papercoder://runs/{run_id}"
    reference = judge.reference_digest(judge.parse_judge_key(key)[0]) if key.startswith("judge:") else None
    _, selection, _ = prefix_blocks(sctx, stage.name, reference)
    uris = [f"{base}/paper"]
    uris += [f"{base}/numbered/{p}" for p in selection.paths]
    if reference:
        uris.append(evaluation_uri(run_id, f"reference:{reference}"))
    return handoff.model_copy(
        update={
            "context": "",
            "context_resources": uris,
            "prompt": CONTEXT_IN_RESOURCES.replace("RUN", run_id) + "\n\n" + prompt,
        }
    )


async def drive_evaluation(
    ctx: Context,
    run_id: str,
    req: EvalRequest,
    *,
    sampler: SamplerMode = "auto",
    include_context: bool = False,
) -> EvaluationToolResult | InputRequiredResult:
    app = app_of(ctx)
    try:
        app.store.get_run(run_id)
        sctx = StageContext(store=app.store, run_id=run_id)
        route, note = route_of(app, sampler, ctx)
        mode = "sampling" if route in ("rounds", "classic") else route
        if req.max_cost_usd is not None and route != "anthropic":
            raise ToolError(
                f"max_cost_usd cannot be enforced with sampler {route!r}: the server does not know the price of "
                "the client's model (or the agent's); drop max_cost_usd, or give the server ANTHROPIC_API_KEY"
            )
        # Building the paper-and-repository context is CPU- and disk-bound: off the event loop.
        stage, keys = await off_loop(_plan, sctx, req)
        if mode == "anthropic" or route == "classic":
            # Clients before 2026-07-28 answer classic sampling requests mid-call, like the API.
            sctx.sampler = app.anthropic() if route == "anthropic" else ClassicSampler(ctx, seconds=None)
            sctx.budget = budget_for(req.max_cost_usd)
            if req.mode == "judge":
                jr = await judge.judge_run(
                    sctx,
                    samples=req.samples,
                    reference_dir=req.reference_dir,
                    budget_tokens=req.budget_tokens,
                    force=req.force,
                )
                cost = jr.cost_usd
            else:
                rr = await grade.grade_run(
                    sctx,
                    Path(req.rubric_path or ""),
                    categories=req.categories or DEFAULT_CATEGORIES,
                    batch_size=req.batch_size,
                    budget_tokens=req.budget_tokens,
                    force=req.force,
                )
                cost = rr.cost_usd
            await _announce(app, run_id, keys, req)
            name = sctx.sampler.name if sctx.sampler else ""
            return await off_loop(_done, app, run_id, req, keys, name, cost)
        if mode == "sampling":
            return await _sampling(app, ctx, sctx, stage, keys, req)
        return await off_loop(_handoffs, app, sctx, stage, keys, req, include_context, note)
    except ToolError:
        raise
    except PaperCoderError as exc:
        raise ToolError(str(exc)) from exc


def _handoffs(
    app: App,
    sctx: StageContext,
    stage: Stage,
    keys: list[str],
    req: EvalRequest,
    include_context: bool,
    note: str,
) -> EvaluationToolResult:
    """The parts the agent must grade, or the aggregate when every part is stored (a worker thread)."""
    run_id = sctx.run_id
    todo = forced_todo(sctx, stage, keys) if req.force else pending(stage, sctx, keys)
    if not todo:
        return _done(app, run_id, req, keys, "agent", None)
    shared = "\n\n".join(stage.prepare(sctx, todo[0]).request.prefix) if include_context else ""
    return EvaluationToolResult(
        run_id=run_id,
        mode=req.mode,
        status="handoff",
        sampler="agent",
        resource="",
        context=shared,
        handoffs=[_handoff(run_id, stage, sctx, k, include_context) for k in todo],
        message=(
            f"{len(todo)} of {len(keys)} {stage.name} answers are needed: write each as its output_contract "
            "says, send it with submit_artifact, then call evaluate_repo again with the same arguments. "
            + note
        ).strip(),
        next=["submit_artifact(handoff_id=..., content=...)", f"evaluate_repo(run_id={run_id!r}, ...)"],
    )


def forced_todo(sctx: StageContext, stage: Stage, keys: list[str]) -> list[str]:
    """`force` in handoff, where each call is separate: the first forced call hands out every part and
    notes when; later calls hand out the parts not answered since, and once all are, the round ends
    (the aggregate is made and the next forced call starts a new round)."""
    run = sctx.store.get_run(sctx.run_id)
    settings = dict(run.settings)
    evaluation = dict(settings.get("evaluation", {}))
    mark = f"forced_since:{stage.name}"
    since = evaluation.get(mark)
    if since is None:
        evaluation[mark] = now_iso()
        sctx.store.update_run(sctx.run_id, settings={**settings, "evaluation": evaluation})
        return list(keys)
    todo = []
    for key in keys:
        current = stage.current(sctx, key)
        if current is None or current.created_at < since or not stage.is_fresh(sctx, key):
            todo.append(key)
    if not todo:
        evaluation.pop(mark)
        sctx.store.update_run(sctx.run_id, settings={**settings, "evaluation": evaluation})
    return todo


async def _announce(app: App, run_id: str, keys: list[str], req: EvalRequest) -> None:
    """Tell subscribers which evaluations changed (and so the run's manifest)."""
    result_key = judge.RESULT_KEY if req.mode == "judge" else grade.RESULT_KEY
    for key in [*keys, result_key]:
        await app.bus.publish(ResourceUpdated(uri=evaluation_uri(run_id, key)))
    await app.bus.publish(ResourceUpdated(uri=f"papercoder://runs/{run_id}"))


async def _sampling(
    app: App, ctx: Context, sctx: StageContext, stage: Stage, keys: list[str], req: EvalRequest
) -> EvaluationToolResult | InputRequiredResult:
    run_id = sctx.run_id
    first = not ctx.input_responses
    state = RoundState() if first else RoundState.load(ctx.request_state)
    got = collect(sctx, ctx.input_responses, state)
    if got.results:
        await _announce(app, run_id, [r.key for r in got.results], req)
    if got.failures:
        raise ToolError(
            "; ".join(got.failures) + ". Call evaluate_repo again to retry the parts that failed (the others "
            "are kept)."
        )
    asked = asked_steps(got.reasks)
    requests: dict[str, Any] = dict(got.reasks)
    todo = keys if first and req.force else [k for k in keys if not stage.is_fresh(sctx, k)]
    for key in todo:
        if (stage.name, key) in asked:
            continue
        prepared = stage.prepare(sctx, key)
        requests[request_key(prepared, 0)] = to_create_message(prepared.request)
    if not requests:
        return _done(app, run_id, req, keys, SAMPLER_NAME, None)
    if state.round >= app.max_rounds:
        raise ToolError(
            f"the client's model did not produce valid answers within {app.max_rounds} rounds; call "
            "evaluate_repo again to continue (answers stored so far are kept)"
        )
    state.round += 1
    await ctx.report_progress(
        len(keys) - len(todo), len(keys), f"asking the client's model for {len(requests)} answer(s)"
    )
    return InputRequiredResult(input_requests=requests, request_state=dump_state(state))
