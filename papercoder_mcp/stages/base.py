"""The machinery every stage shares: prepare a request, ask a sampler, validate, store, log the calls.

A stage is split in two so that every way of getting a model can use it:
`prepare()` renders the request from stored artifacts only (so it renders the
same bytes every time: the input hash and the prompt cache depend on it), and
`accept()` validates an answer into the artifact to store. `run_stage()` puts
them together with a sampler and re-asks on validation errors; the MCP handoff
path calls `prepare()` and later `accept_answer()` with the agent's text.
"""

from __future__ import annotations

import functools
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from pydantic import BaseModel, Field

from papercoder_mcp import prompts
from papercoder_mcp.errors import BudgetExceeded, SamplerError, StageError, ValidationFailed
from papercoder_mcp.limits import check_answer_size
from papercoder_mcp.pipeline.budget import Budget
from papercoder_mcp.samplers.base import Completion, FailedAttempt, Sampler, SampleRequest, Turn
from papercoder_mcp.store import Store, canonical_hash
from papercoder_mcp.store.records import Artifact, CallRecord

# Output budgets per stage (tokens); a truncated answer is retried by the sampler with more.
DEFAULT_MAX_TOKENS: dict[str, int] = {
    "make_plan": 8_000,
    "design_architecture": 8_000,
    "order_files": 10_000,
    "write_config": 4_000,
    "analyze_file": 6_000,
    "generate_file": 16_000,
    "check_coverage": 8_000,
}
# What a call typically writes, for cost estimates before it runs (dry run, budget).
EXPECTED_OUTPUT_TOKENS: dict[str, int] = {
    "make_plan": 2_500,
    "design_architecture": 3_000,
    "order_files": 3_000,
    "write_config": 800,
    "analyze_file": 1_800,
    "generate_file": 2_500,
    "check_coverage": 2_000,
}
MAX_REASKS = 2
T = TypeVar("T")


class StageSettings(BaseModel):
    max_tokens: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_MAX_TOKENS))
    effort: dict[str, str] = Field(default_factory=dict)


@dataclass
class StageContext:
    store: Store
    run_id: str
    sampler: Sampler | None = None
    budget: Budget | None = None
    settings: StageSettings = field(default_factory=StageSettings)


class Prepared(BaseModel):
    """A rendered request and the identity of the inputs it was made from."""

    stage: str
    key: str = ""
    request: SampleRequest
    input_hash: str


class Accepted(BaseModel):
    content: str
    format: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class StageResult(BaseModel):
    stage: str
    key: str = ""
    artifact: Artifact
    skipped: bool = Field(False, description="the current artifact already matched the inputs; no call made")
    cost_usd: float | None = 0.0
    calls: int = 0
    warnings: list[str] = Field(default_factory=list)


def request_hash(request: SampleRequest) -> str:
    """Identity of a request's inputs: what the model reads, not how many tokens it may write.

    The original PDF (`documents`) is left out: it is stored once per run and never edited, and whether
    a sampler reads it as typeset (the API does, a client may not) is delivery, like `max_tokens`. So a
    run's steps stay fresh across samplers and `PAPERCODER_PDF_DOCUMENT`, and old runs keep their hashes."""
    return canonical_hash(request.model_dump(include={"system", "prefix", "prompt", "output_schema"}))


def guidance_block(text: str) -> str:
    return f"\nGuidance from the user for this stage (follow it):\n{text.strip()}\n" if text.strip() else ""


class Stage(ABC):
    name: str
    kind: str
    per_file: bool = False
    # Whether the original PDF goes with the paper in the prefix (samplers that read documents get it).
    reads_original: bool = True

    @abstractmethod
    def build_request(self, ctx: StageContext, key: str, guidance: str) -> SampleRequest: ...

    @abstractmethod
    def accept(self, ctx: StageContext, key: str, text: str, structured: Any | None) -> Accepted: ...

    def prepare(self, ctx: StageContext, key: str = "") -> Prepared:
        guidance = stored_guidance(ctx, self.name, key)
        request = self.build_request(ctx, key, guidance)
        documents = request.documents
        if request.prefix and not documents and self.reads_original:
            # Every prefix starts with the paper (inputs.prefix), so the typeset original goes with it.
            from papercoder_mcp.stages.inputs import documents as paper_documents

            documents = paper_documents(ctx)
        request = request.model_copy(
            update={
                "documents": documents,
                "stage": self.name,
                "key": key,
                "system": prompts.load("system"),
                "max_tokens": ctx.settings.max_tokens.get(self.name, request.max_tokens),
                "effort": ctx.settings.effort.get(self.name) or request.effort,
            }
        )
        return Prepared(stage=self.name, key=key, request=request, input_hash=request_hash(request))

    def store(
        self, ctx: StageContext, key: str, input_hash: str, accepted: Accepted, source: str
    ) -> Artifact:
        """Write an accepted answer as the new version of this stage's artifact (every path ends here)."""
        metadata = {**accepted.metadata, "stage": self.name, "source": source}
        if ctx.store.get_run(ctx.run_id).status in ("verified", "exported"):
            # A verified (or exported) run that gets a new artifact is being worked on again.
            ctx.store.update_run(ctx.run_id, status="running")
        return ctx.store.put_artifact(
            ctx.run_id,
            self.kind,
            accepted.content,
            key=key,
            format=accepted.format,
            input_hash=input_hash,
            metadata=metadata,
        )

    def stored_key(self, prepared: Prepared) -> str:
        """The artifact key an accepted answer is stored under (a refinement stores under its target's)."""
        return prepared.key

    def stored_hash(self, ctx: StageContext, prepared: Prepared) -> str:
        """The input hash an accepted answer is stored under: by default, the hash of this prompt.

        A stage that writes another stage's artifact (a repair writes code) stores it under the
        hash of the artifact's own stage, so the artifact stays fresh for that stage."""
        return prepared.input_hash

    def current(self, ctx: StageContext, key: str = "") -> Artifact | None:
        return ctx.store.find_artifact(ctx.run_id, self.kind, key)

    def is_fresh(self, ctx: StageContext, key: str = "") -> bool:
        """True when the current artifact was made from exactly the inputs the stage would use now."""
        art = self.current(ctx, key)
        if art is None:
            return False
        try:
            return art.input_hash == self.prepare(ctx, key).input_hash
        except StageError:
            return False


def stored_guidance(ctx: StageContext, stage: str, key: str) -> str:
    run = ctx.store.get_run(ctx.run_id)
    return str(run.settings.get("guidance", {}).get(f"{stage}:{key}", ""))


def set_guidance(ctx: StageContext, stage: str, key: str, text: str | None) -> None:
    """Keep the agent's guidance with the run, so a resumed run renders the same prompt."""
    if text is None:
        return
    run = ctx.store.get_run(ctx.run_id)
    settings = dict(run.settings)
    guidance = dict(settings.get("guidance", {}))
    if text.strip():
        guidance[f"{stage}:{key}"] = text.strip()
    else:
        guidance.pop(f"{stage}:{key}", None)
    settings["guidance"] = guidance
    ctx.store.update_run(ctx.run_id, settings=settings)


def _record(
    ctx: StageContext,
    prepared: Prepared,
    completion: Completion | None,
    failed: list[FailedAttempt],
    sampler: Sampler,
    error: str = "",
    in_flight: int | None = None,
) -> float | None:
    """Log every attempt of one call; return the summed cost (None when any part was unpriced).

    `in_flight` is the call-log row written before the request was sent: the last attempt completes it,
    so the log never shows a call twice."""
    attempts = list(failed)
    if completion is not None and completion.logged:
        if in_flight is not None:
            ctx.store.forget_call(in_flight)  # a replayed answer: its call is logged already
        return 0.0 if completion.cost_usd is not None else None
    if completion is not None:
        attempts.append(
            FailedAttempt(
                attempt=completion.attempt,
                error=error,
                latency_s=completion.latency_s,
                usage=completion.usage,
                stop_reason=completion.stop_reason,
                cost_usd=completion.cost_usd,
            )
        )
    total: float | None = 0.0
    if not attempts and in_flight is not None:
        ctx.store.finish_call(
            in_flight, _call_row(ctx, prepared, sampler, error=error or "failed", attempt=1)
        )
    for a in attempts:
        final = completion is not None and a is attempts[-1]
        record = ctx.store.finish_call if in_flight is not None and a is attempts[0] else None
        row = CallRecord(
            run_id=ctx.run_id,
            stage=prepared.stage,
            key=prepared.key,
            sampler=(completion.sampler if final and completion else "") or sampler.name,
            model=(completion.model if final and completion else "") or sampler.model,
            input_tokens=a.usage.input_tokens,
            output_tokens=a.usage.output_tokens,
            cache_read_tokens=a.usage.cache_read_tokens,
            cache_write_tokens=a.usage.cache_write_tokens,
            cost_usd=a.cost_usd,
            latency_s=a.latency_s,
            stop_reason=a.stop_reason,
            attempt=a.attempt,
            error=a.error,
            request_hash=prepared.input_hash,
        )
        if record is not None and in_flight is not None:
            record(in_flight, row)
        else:
            ctx.store.record_call(row)
        total = None if total is None or a.cost_usd is None else total + a.cost_usd
    return total


async def _off(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` in a worker thread (it finishes even if the caller is cancelled meanwhile,
    so a store write is never left half done)."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))


def _call_row(
    ctx: StageContext,
    prepared: Prepared,
    sampler: Sampler,
    *,
    status: str = "done",
    error: str = "",
    attempt: int = 1,
) -> CallRecord:
    return CallRecord.model_validate(
        {
            "run_id": ctx.run_id,
            "stage": prepared.stage,
            "key": prepared.key,
            "sampler": sampler.name,
            "model": sampler.model,
            "request_hash": prepared.input_hash,
            "status": status,
            "error": error,
            "attempt": attempt,
        }
    )


def _start_call(ctx: StageContext, prepared: Prepared, sampler: Sampler) -> int | None:
    """Log the call before its request goes out: a process killed mid-call leaves an `in_flight` row,
    so `cost` can say it may have been billed instead of not showing it at all. A sampler that only
    replays answers given earlier (rounds, handoff) sends nothing, so nothing is in flight."""
    if getattr(sampler, "defers", False):
        return None
    return ctx.store.record_call(_call_row(ctx, prepared, sampler, status="in_flight")).id


def _interrupted(ctx: StageContext, in_flight: int | None, prepared: Prepared, sampler: Sampler) -> None:
    if in_flight is None:
        return
    ctx.store.finish_call(
        in_flight,
        _call_row(
            ctx, prepared, sampler, status="interrupted", error="cancelled before the answer came back"
        ),
    )


def store_accepted(
    ctx: StageContext, stage: Stage, key: str, input_hash: str, accepted: Accepted, source: str
) -> Artifact:
    """Store a validated answer; `input_hash` is what makes it fresh (empty: stale until redone)."""
    return stage.store(ctx, key, input_hash, accepted, source)


def billable_outputs(sampler: Sampler, request: SampleRequest) -> list[int]:
    """The output tokens each attempt of one `sample()` may be billed for, in the worst case.

    A sampler that re-asks a cut answer with a larger max_tokens says so (`billable_outputs`);
    any other is billed at most the request's max_tokens once."""
    plan = getattr(sampler, "billable_outputs", None)
    return list(plan(request)) if callable(plan) else [request.max_tokens]


def estimate_request_cost(sampler: Sampler, request: SampleRequest) -> float | None:
    """The most one call may cost: every attempt's input uncached and its whole output budget used.

    None when the model's price is unknown (a cap then refuses the call rather than guess)."""
    from papercoder_mcp.paper.render import estimate_tokens
    from papercoder_mcp.samplers.pricing import estimate_cost

    tokens_in = estimate_tokens(
        request.system + request.user_text() + "".join(t.text for t in request.followups)
    ) + sum(d.token_estimate() for d in request.documents if d.data)
    total = 0.0
    for out in billable_outputs(sampler, request):
        cost = estimate_cost(sampler.model, tokens_in, out)
        if cost is None:
            return None
        total += cost
    return total


def answer_settings(sampler: Sampler, request: SampleRequest) -> dict[str, Any]:
    """What besides the prompt decides the answer: who answers (sampler, model) and how (effort).

    Kept on every artifact a sampler writes; resuming reuses an artifact only when these match too,
    so `full --model X` does not pass off another model's (or the agent's) work as X's."""
    from papercoder_mcp.samplers.pricing import canonical_model

    return {"sampler": sampler.name, "model": canonical_model(sampler.model), "effort": request.effort}


def reusable(existing: Artifact, prepared: Prepared, sampler: Sampler | None) -> bool:
    """True when `existing` is what asking `sampler` now would be made from and by.

    A user's edit is kept whoever would answer: it is the user's decision, not a model's answer. A
    sampler that defers to the client or the agent (`defers`) takes any fresh artifact: asking it
    again would only hand the same step out again, and nothing is paid for."""
    if existing.input_hash != prepared.input_hash:
        return False
    if sampler is None or existing.metadata.get("source") == "edit" or getattr(sampler, "defers", False):
        return True
    return existing.metadata.get("answered_with") == answer_settings(sampler, prepared.request)


async def run_stage(stage: Stage, ctx: StageContext, key: str = "", *, force: bool = False) -> StageResult:
    """Produce the stage's artifact: reuse it when its inputs and its answerer are unchanged, else ask
    the sampler."""
    # Rendering, validating and the store's writes (which may wait on another process's lock) are
    # blocking work: they run in worker threads so an event loop serving other clients stays free.
    prepared, existing = await _off(lambda: (stage.prepare(ctx, key), stage.current(ctx, key)))
    if existing is not None and not force and reusable(existing, prepared, ctx.sampler):
        return StageResult(stage=stage.name, key=key, artifact=existing, skipped=True, cost_usd=0.0)
    sampler = ctx.sampler
    if sampler is None:
        raise StageError(f"{stage.name}: no model is configured (set ANTHROPIC_API_KEY or choose a sampler)")
    from papercoder_mcp.pipeline.originals import with_document_data

    request = with_document_data(
        ctx.store, ctx.run_id, prepared.request, bool(getattr(sampler, "reads_documents", False))
    )
    total_cost: float | None = 0.0
    calls = 0
    reasks = MAX_REASKS
    errors: list[str] = []
    for reask in range(MAX_REASKS + 1):
        reservation = 0.0
        if ctx.budget is not None:
            reservation = ctx.budget.reserve(
                estimate_request_cost(sampler, request),
                f"{stage.name}{' ' + key if key else ''}",
                sampler.model,
            )
        started = time.monotonic()
        with anyio.CancelScope(shield=True):  # the row is written either way: know its id
            in_flight = await _off(_start_call, ctx, prepared, sampler)
        try:
            completion = await sampler.sample(request)
        except SamplerError as exc:
            failed = list(getattr(exc, "failed_attempts", []) or [])
            cost = await _off(
                _record, ctx, prepared, None, failed, sampler, error=str(exc), in_flight=in_flight
            )
            if ctx.budget is not None:
                ctx.budget.settle(reservation, cost)
            raise StageError(f"{stage.name}{' ' + key if key else ''}: the model call failed: {exc}") from exc
        except BaseException as exc:
            from papercoder_mcp.pipeline.answers import AnswerDeferred

            if isinstance(exc, AnswerDeferred):  # nothing was sent: the answer comes later, logged then
                if in_flight is not None:
                    ctx.store.forget_call(in_flight)
            else:
                _interrupted(ctx, in_flight, prepared, sampler)
            if ctx.budget is not None:
                ctx.budget.settle(reservation, 0.0)
            raise
        if not completion.latency_s:
            completion.latency_s = time.monotonic() - started
        calls += 1 + len(completion.failed_attempts)
        try:
            check_answer_size(completion.text)
            accepted = await _off(stage.accept, ctx, key, completion.text, completion.structured)
        except ValidationFailed as exc:
            errors = exc.errors or [str(exc)]
            cost = await _off(
                _record,
                ctx,
                prepared,
                completion,
                completion.failed_attempts,
                sampler,
                error="invalid answer: " + "; ".join(errors),
                in_flight=in_flight,
            )
            if ctx.budget is not None:
                ctx.budget.settle(reservation, cost)
            total_cost = None if total_cost is None or cost is None else total_cost + cost
            limit = getattr(exc, "max_reasks", MAX_REASKS)
            if reask >= limit:
                reasks = reask
                break
            answer = completion.text if completion.text else str(completion.structured)
            request = request.model_copy(
                update={
                    "followups": [
                        *request.followups,
                        Turn(role="assistant", text=answer or "(empty answer)"),
                        Turn(
                            role="user",
                            text=prompts.render("reask", errors="\n".join(f"- {e}" for e in errors)),
                        ),
                    ]
                }
            )
            continue
        cost = await _off(
            _record, ctx, prepared, completion, completion.failed_attempts, sampler, in_flight=in_flight
        )
        if ctx.budget is not None:
            ctx.budget.settle(reservation, cost)
        total_cost = None if total_cost is None or cost is None else total_cost + cost
        accepted.metadata["answered_with"] = answer_settings(sampler, prepared.request)
        artifact = await _off(_store_answer, ctx, stage, prepared, accepted, sampler.name)
        return StageResult(
            stage=stage.name,
            key=key,
            artifact=artifact,
            cost_usd=total_cost,
            calls=calls,
            warnings=list(accepted.metadata.get("warnings", [])),
        )
    raise StageError(
        f"{stage.name}{' ' + key if key else ''}: the model's answer did not validate after "
        f"{reasks} re-ask{'' if reasks == 1 else 's'}: "
        + "; ".join(errors)
        + ". Re-run the stage (perhaps with guidance) or "
        "submit a corrected artifact with edit_artifact."
    )


def _store_answer(
    ctx: StageContext, stage: Stage, prepared: Prepared, accepted: Accepted, source: str
) -> Artifact:
    return store_accepted(
        ctx, stage, stage.stored_key(prepared), stage.stored_hash(ctx, prepared), accepted, source=source
    )


def accept_answer(
    stage: Stage,
    ctx: StageContext,
    key: str,
    text: str,
    *,
    expected_hash: str | None = None,
    source: str = "agent",
) -> StageResult:
    """Validate and store an answer written outside a sampler (agent handoff, a human edit)."""
    prepared = stage.prepare(ctx, key)
    if expected_hash is not None and expected_hash != prepared.input_hash:
        raise StageError(
            f"{stage.name}{' ' + key if key else ''}: its inputs changed since the prompt was handed out; "
            "call the stage again for a fresh prompt"
        )
    check_answer_size(text)
    accepted = stage.accept(ctx, key, text, None)
    artifact = store_accepted(
        ctx, stage, stage.stored_key(prepared), stage.stored_hash(ctx, prepared), accepted, source=source
    )
    return StageResult(
        stage=stage.name, key=key, artifact=artifact, warnings=list(accepted.metadata.get("warnings", []))
    )


__all__ = [
    "Accepted",
    "Prepared",
    "Stage",
    "StageContext",
    "StageResult",
    "StageSettings",
    "BudgetExceeded",
    "accept_answer",
    "guidance_block",
    "run_stage",
    "set_guidance",
]
