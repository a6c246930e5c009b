"""Paper2Code-style judging: n independent samples of a 1-5 correctness score with critiques, averaged.

Each sample is one call of the `evaluate_judge` stage with its own key,
`judge:<variant>:<index>`, where the variant is `ref-free` or `ref-<digest>` (the
stored snapshot of a reference repository). Every sample is validated like any
stage answer and re-asked when it does not validate; the aggregate is computed
from the samples as stored, so what is averaged is exactly what can be read back.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from papercoder_mcp import prompts
from papercoder_mcp.errors import StageError, ValidationFailed
from papercoder_mcp.evaluation.evidence import bad_citations, line_counts
from papercoder_mcp.evaluation.models import SEVERITIES, Critique, JudgeAnswer, JudgeResult, JudgeSample
from papercoder_mcp.evaluation.repo_context import DEFAULT_BUDGET_TOKENS, run_files
from papercoder_mcp.evaluation.steps import (
    KIND,
    budget_of,
    load_reference,
    prefix_blocks,
    provenance,
    require_current,
    run_keys,
    set_budget,
    snapshot_reference,
    store_aggregate,
    total_cost,
)
from papercoder_mcp.samplers.base import SampleRequest
from papercoder_mcp.stages.base import Accepted, StageContext, guidance_block
from papercoder_mcp.stages.structured import StructuredStage

DEFAULT_SAMPLES = 8
RESULT_KEY = "judge"
JUDGE_MEASURE = "Paper2Code-style correctness judgement, 1-5 (read, not executed)"
REF_FREE = "ref-free"


def judge_key(variant: str, index: int) -> str:
    return f"judge:{variant}:{index}"


def parse_judge_key(key: str) -> tuple[str, int]:
    parts = key.split(":")
    if len(parts) != 3 or parts[0] != "judge" or not parts[2].isdigit() or not parts[1].startswith("ref-"):
        raise StageError(f"{key!r} is not a judge sample key (judge:ref-free:N or judge:ref-DIGEST:N)")
    return parts[1], int(parts[2])


def reference_digest(variant: str) -> str | None:
    return None if variant == REF_FREE else variant.removeprefix("ref-")


class JudgeStage(StructuredStage):
    name = "evaluate_judge"
    # The repository fills the context beside the paper's text; the PDF's pages would crowd it out.
    reads_original = False
    tool = "evaluate_repo"  # the MCP tool that hands this stage out
    kind = KIND
    model = JudgeAnswer

    def build_request(self, ctx: StageContext, key: str, guidance: str) -> SampleRequest:
        variant, _ = parse_judge_key(key)
        reference = reference_digest(variant)
        prefix, _, _ = prefix_blocks(ctx, self.name, reference)
        if reference:
            note = " and, after it, the authors' own reference implementation"
            check = " (use the reference implementation to see what a faithful version does; the repository "
            check += "need not match it line by line, only in what it computes)"
        else:
            note, check = "", ""
        return SampleRequest(
            stage=self.name,
            system="",
            prefix=prefix,
            prompt=prompts.render(
                "eval_judge",
                reference_note=note,
                reference_check=check,
                schema=self.schema_text(),
                guidance=guidance_block(guidance),
            ),
            output_schema=self.schema(),
            schema_name="judgement",
            max_tokens=6_000,
        )

    def accept(self, ctx: StageContext, key: str, text: str, structured: Any | None) -> Accepted:
        accepted = super().accept(ctx, key, text, structured)
        answer = JudgeAnswer.model_validate_json(accepted.content)
        files = run_files(ctx)
        reference = reference_digest(parse_judge_key(key)[0])
        if reference:
            files += load_reference(ctx, reference)[1]
        lines = line_counts(files)
        cited = [p for c in answer.critiques for p in bad_citations(f"{c.location} {c.text}", lines)]
        if cited:
            raise ValidationFailed(
                "the critiques cite code that does not exist (cite `path:line` of the files shown): "
                + "; ".join(cited),
                cited,
            )
        score = answer.score
        return accepted.model_copy(update={"metadata": {**accepted.metadata, "score": score}})


STAGE = JudgeStage()


def plan_judge(
    ctx: StageContext,
    *,
    samples: int = DEFAULT_SAMPLES,
    reference_dir: str | Path | None = None,
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
) -> list[str]:
    """Check the inputs, keep the settings with the run, and return the sample keys to run."""
    if samples < 1:
        raise StageError(f"samples must be at least 1, got {samples}")
    run_files(ctx)  # an empty repository is refused before anything is stored
    set_budget(ctx, budget_tokens)
    variant = REF_FREE if reference_dir is None else "ref-" + snapshot_reference(ctx, str(reference_dir))
    keys = [judge_key(variant, i) for i in range(samples)]
    STAGE.prepare(ctx, keys[0])  # missing inputs are reported now, not per sample
    return keys


def summarize_judge(ctx: StageContext, keys: list[str], cost_usd: float | None = None) -> JudgeResult:
    """Aggregate the stored samples (all must be current) and store the result as evaluation `judge`."""
    require_current(STAGE, ctx, keys, "judge sample")
    variant, _ = parse_judge_key(keys[0])
    reference = reference_digest(variant)
    _, selection, ref_selection = prefix_blocks(ctx, STAGE.name, reference)
    samples: list[JudgeSample] = []
    for key in keys:
        art = ctx.store.get_artifact(ctx.run_id, KIND, key)
        answer = JudgeAnswer.model_validate_json(art.content)
        samples.append(
            JudgeSample(
                index=parse_judge_key(key)[1],
                key=key,
                version=art.version,
                score=answer.score,
                components=answer.components,
                critiques=answer.critiques,
                summary=answer.summary,
            )
        )
    scores = [s.score for s in samples]
    critiques: dict[str, list[Critique]] = {sev: [] for sev in SEVERITIES}
    for s in samples:
        for c in s.critiques:
            critiques[c.severity].append(c)
    components: dict[str, str] = {}
    for s in samples:
        for comp in s.components:
            components.setdefault(comp.name.strip().lower(), comp.name.strip())
    samplers, models = provenance(ctx, keys)
    result = JudgeResult(
        measure=JUDGE_MEASURE,
        samplers=samplers,
        models=models,
        run_id=ctx.run_id,
        mode="reference-based" if reference else "reference-free",
        reference=load_reference(ctx, reference)[0] if reference else None,
        samples=samples,
        n=len(samples),
        scores=scores,
        mean=statistics.fmean(scores),
        stdev=statistics.stdev(scores) if len(scores) > 1 else None,
        min=min(scores),
        max=max(scores),
        critiques=critiques,
        critique_counts={sev: len(items) / len(samples) for sev, items in critiques.items()},
        components=list(components.values()),
        files_included=selection.paths,
        files_left_out=selection.left_out,
        reference_left_out=ref_selection.left_out if ref_selection else [],
        budget_tokens=budget_of(ctx),
        cost_usd=cost_usd,
    )
    store_aggregate(
        ctx,
        RESULT_KEY,
        result,
        keys,
        {
            "stage": STAGE.name,
            "measure": result.measure,
            "mode": result.mode,
            "mean": result.mean,
            "samples": result.n,
            "samplers": samplers,
            "models": models,
        },
    )
    return result


async def judge_run(
    ctx: StageContext,
    *,
    samples: int = DEFAULT_SAMPLES,
    reference_dir: str | Path | None = None,
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
    force: bool = False,
    concurrency: int = 4,
) -> JudgeResult:
    """Judge a run's repository with `samples` independent samples through `ctx.sampler`.

    Samples already stored for the same inputs are reused (force: sample them all again).
    """
    keys = plan_judge(ctx, samples=samples, reference_dir=reference_dir, budget_tokens=budget_tokens)
    results = await run_keys(STAGE, ctx, keys, force=force, concurrency=concurrency)
    return summarize_judge(ctx, keys, total_cost(results))
