"""What the judge and the grader share: running many keyed calls of one stage, and the repository block."""

from __future__ import annotations

import json
from typing import Any

import anyio
from pydantic import BaseModel

from papercoder_mcp.errors import StageError
from papercoder_mcp.evaluation.repo_context import (
    DEFAULT_BUDGET_TOKENS,
    RepoFile,
    Selection,
    key_terms,
    reference_files,
    repo_block,
    run_files,
    select_files,
)
from papercoder_mcp.stages.base import Stage, StageContext, StageResult, run_stage
from papercoder_mcp.store import canonical_hash
from papercoder_mcp.store.records import Artifact

KIND = "evaluation"
REPO_TITLE = "The repository under evaluation"
REFERENCE_TITLE = "The reference repository (the authors' own implementation)"


# -- settings kept with the run, so a later prepare() renders the same prompt --------


def budget_of(ctx: StageContext) -> int:
    run = ctx.store.get_run(ctx.run_id)
    return int(run.settings.get("evaluation", {}).get("budget_tokens", DEFAULT_BUDGET_TOKENS))


def set_budget(ctx: StageContext, budget_tokens: int) -> None:
    if budget_tokens < 1_000:
        raise StageError(f"budget_tokens must be at least 1000, got {budget_tokens}")
    run = ctx.store.get_run(ctx.run_id)
    settings = dict(run.settings)
    evaluation = dict(settings.get("evaluation", {}))
    if evaluation.get("budget_tokens", DEFAULT_BUDGET_TOKENS) == budget_tokens:
        return
    evaluation["budget_tokens"] = budget_tokens
    settings["evaluation"] = evaluation
    ctx.store.update_run(ctx.run_id, settings=settings)


def put_once(ctx: StageContext, key: str, content: str, metadata: dict[str, Any]) -> Artifact:
    """Store an evaluation input unless the current version already holds exactly this content."""
    current = ctx.store.find_artifact(ctx.run_id, KIND, key)
    if current is not None and current.content == content:
        return current
    return ctx.store.put_artifact(
        ctx.run_id,
        KIND,
        content,
        key=key,
        format="json",
        input_hash=canonical_hash(content),
        metadata=metadata,
    )


# -- the repository as the judge sees it ----------------------------------------------


def repo_selection(ctx: StageContext, budget_tokens: int) -> Selection:
    return select_files(run_files(ctx), key_terms(ctx), budget_tokens)


def snapshot_reference(ctx: StageContext, directory: str) -> str:
    """Keep a reference repository's text files in the store; return the digest that names them."""
    files = reference_files(directory)
    digest = canonical_hash([f.model_dump() for f in files])[:12]
    content = json.dumps({"source": str(directory), "files": [f.model_dump() for f in files]}, indent=1)
    put_once(ctx, f"reference:{digest}", content, {"stage": "evaluate_judge", "source": str(directory)})
    return digest


def load_reference(ctx: StageContext, digest: str) -> tuple[str, list[RepoFile]]:
    art = ctx.store.find_artifact(ctx.run_id, KIND, f"reference:{digest}")
    if art is None:
        raise StageError(
            f"run {ctx.run_id} has no stored reference repository {digest}; evaluate again with reference_dir"
        )
    data = json.loads(art.content)
    return str(data.get("source", "")), [RepoFile.model_validate(f) for f in data["files"]]


def prefix_blocks(
    ctx: StageContext, needed_by: str, reference: str | None = None
) -> tuple[list[str], Selection, Selection | None]:
    """Paper, repository (and reference) blocks: the cached start of every judge and grader call.

    With a reference the budget is split evenly between the two repositories.
    """
    from papercoder_mcp.stages import inputs

    budget = budget_of(ctx)
    share = budget // 2 if reference else budget
    selection = repo_selection(ctx, share)
    blocks = [*inputs.prefix(ctx, 0, needed_by), repo_block(REPO_TITLE, selection)]
    ref_selection = None
    if reference:
        _, ref_files = load_reference(ctx, reference)
        ref_selection = select_files(ref_files, key_terms(ctx), share)
        blocks.append(repo_block(REFERENCE_TITLE, ref_selection))
    return blocks, selection, ref_selection


# -- running many keyed calls ----------------------------------------------------------


def pending(stage: Stage, ctx: StageContext, keys: list[str]) -> list[str]:
    """The keys whose current artifact is missing or was made from other inputs."""
    return [k for k in keys if not stage.is_fresh(ctx, k)]


async def run_keys(
    stage: Stage, ctx: StageContext, keys: list[str], *, force: bool = False, concurrency: int = 4
) -> list[StageResult]:
    """Run a stage for every key: the first alone (it writes the prompt cache), the rest concurrently.

    A key whose answer never validates fails the whole call after the others finish: it is
    never dropped from the aggregate. Finished keys are stored and reused by the next call.
    """
    if not keys:
        return []
    results: dict[str, StageResult] = {}
    errors: list[str] = []
    limiter = anyio.CapacityLimiter(max(1, concurrency))

    async def one(key: str) -> None:
        async with limiter:
            try:
                results[key] = await run_stage(stage, ctx, key, force=force)
            except StageError as exc:
                errors.append(str(exc))

    await one(keys[0])
    if not errors:
        async with anyio.create_task_group() as tg:
            for key in keys[1:]:
                tg.start_soon(one, key)
    if errors:
        done = len(results)
        raise StageError(
            f"{len(errors)} of {len(keys)} {stage.name} calls failed ({done} finished and stored; call again "
            "to retry only the rest): " + " | ".join(errors)
        )
    return [results[k] for k in keys]


def total_cost(results: list[StageResult]) -> float | None:
    total: float | None = 0.0
    for r in results:
        total = None if total is None or r.cost_usd is None else total + r.cost_usd
    return total


def sample_inputs(ctx: StageContext, keys: list[str]) -> str:
    """The identity of an aggregate: which version of every part it was computed from."""
    parts = []
    for key in keys:
        art = ctx.store.get_artifact(ctx.run_id, KIND, key)
        parts.append([key, art.version, art.input_hash])
    return canonical_hash(parts)


def store_aggregate(
    ctx: StageContext, result_key: str, result: BaseModel, parts: list[str], metadata: dict[str, Any]
) -> None:
    """Store an aggregate (judge mean, rubric score) unless the current one was made from the same parts."""
    inputs_id = sample_inputs(ctx, parts)
    current = ctx.store.find_artifact(ctx.run_id, KIND, result_key)
    if current is None or current.input_hash != inputs_id:
        ctx.store.put_artifact(
            ctx.run_id,
            KIND,
            result.model_dump_json(indent=2),
            key=result_key,
            format="json",
            input_hash=inputs_id,
            metadata=metadata,
        )


def require_current(stage: Stage, ctx: StageContext, keys: list[str], what: str) -> None:
    """Refuse to aggregate when any part (judge sample, rubric batch) is missing or out of date."""
    stale = pending(stage, ctx, keys)
    if stale:
        raise StageError(
            f"{len(stale)} {what}(s) are missing or out of date ({', '.join(stale)}); evaluate again"
        )


def provenance(ctx: StageContext, keys: list[str]) -> tuple[list[str], list[str]]:
    """Which samplers and models produced the stored parts: from each artifact's own record, else from
    the call that answered its prompt (client sampling logs the client's model there)."""
    samplers: set[str] = set()
    models: set[str] = set()
    calls = ctx.store.calls(ctx.run_id)
    for key in keys:
        art = ctx.store.get_artifact(ctx.run_id, KIND, key)
        samplers.add(str(art.metadata.get("source") or "unknown"))
        answered = art.metadata.get("answered_with") or {}
        model = answered.get("model") if isinstance(answered, dict) else None
        if not model:
            found = [c.model for c in calls if c.request_hash == art.input_hash and c.model and not c.error]
            model = found[-1] if found else None
        if model:
            models.add(str(model))
    return sorted(samplers), sorted(models)
