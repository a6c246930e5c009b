"""PaperBench-style grading: every rubric leaf of the chosen categories graded 0 or 1, aggregated up the tree.

The rubric and the choice of categories and batch size are stored with the run
(evaluation `rubric-spec:<digest>`), so each batch call, `rubric:<digest>:batch<n>`
of the `evaluate_rubric` stage, renders from the store alone. The batches share
the cached prefix (paper and repository) and differ only in their requirements.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from papercoder_mcp import prompts
from papercoder_mcp.errors import StageError, ValidationFailed
from papercoder_mcp.evaluation.evidence import bad_citations, line_counts
from papercoder_mcp.evaluation.models import GradedLeaf, NodeScore, RubricAnswer, RubricResult
from papercoder_mcp.evaluation.repo_context import DEFAULT_BUDGET_TOKENS, run_files
from papercoder_mcp.evaluation.rubric import (
    CATEGORY_QUESTIONS,
    DEFAULT_CATEGORIES,
    RubricNode,
    batches,
    check_categories,
    graded_leaves,
    load_rubric,
    node_scores,
    parse_rubric,
)
from papercoder_mcp.evaluation.steps import (
    KIND,
    budget_of,
    prefix_blocks,
    provenance,
    put_once,
    require_current,
    run_keys,
    set_budget,
    store_aggregate,
    total_cost,
)
from papercoder_mcp.samplers.base import SampleRequest
from papercoder_mcp.stages.base import Accepted, StageContext, guidance_block
from papercoder_mcp.stages.structured import StructuredStage
from papercoder_mcp.store import canonical_hash

DEFAULT_BATCH_SIZE = 10
RESULT_KEY = "rubric"


class Spec:
    """A stored rubric with its categories and batch size, split into batches of leaves."""

    def __init__(self, digest: str, data: dict[str, Any]) -> None:
        self.digest = digest
        self.rubric_data = data["rubric"]
        self.categories: list[str] = data["categories"]
        self.batch_size: int = data["batch_size"]
        self.root = parse_rubric(self.rubric_data)
        self.leaves = graded_leaves(self.root, self.categories)
        self.batches = batches(self.leaves, self.batch_size)

    def keys(self) -> list[str]:
        return [batch_key(self.digest, i) for i in range(1, len(self.batches) + 1)]

    def ancestors(self) -> dict[str, list[RubricNode]]:
        return {node.id: ancestors for node, ancestors in self.root.walk()}


def coverage_label(categories: list[str]) -> str:
    """What a rubric score measures, said plainly: coverage of the chosen requirements, by reading."""
    if categories == ["Code Development"]:
        return "Code-Dev coverage (read, not executed)"
    return f"rubric coverage of {', '.join(categories)} (read, not executed)"


def batch_key(digest: str, index: int) -> str:
    return f"rubric:{digest}:batch{index}"


def parse_batch_key(key: str) -> tuple[str, int]:
    parts = key.split(":")
    if len(parts) != 3 or parts[0] != "rubric" or not parts[2].startswith("batch"):
        raise StageError(f"{key!r} is not a rubric batch key (rubric:DIGEST:batchN)")
    number = parts[2].removeprefix("batch")
    if not number.isdigit() or int(number) < 1:
        raise StageError(f"{key!r} is not a rubric batch key (rubric:DIGEST:batchN)")
    return parts[1], int(number)


def load_spec(ctx: StageContext, digest: str) -> Spec:
    art = ctx.store.find_artifact(ctx.run_id, KIND, f"rubric-spec:{digest}")
    if art is None:
        raise StageError(f"run {ctx.run_id} has no stored rubric {digest}; evaluate again with the rubric")
    return Spec(digest, json.loads(art.content))


def _leaf_text(leaf: RubricNode, ancestors: list[RubricNode]) -> str:
    category = leaf.task_category or ""
    context = " > ".join(a.requirements.strip() for a in ancestors) or "(top level)"
    return (
        f"- id: `{leaf.id}`\n"
        f"  category: {category}\n"
        f"  requirement: {leaf.requirements.strip()}\n"
        f"  context: {context}\n"
        f"  question: {CATEGORY_QUESTIONS.get(category, CATEGORY_QUESTIONS['Subtree'])}"
    )


class RubricStage(StructuredStage):
    name = "evaluate_rubric"
    # The repository fills the context beside the paper's text; the PDF's pages would crowd it out.
    reads_original = False
    tool = "evaluate_repo"  # the MCP tool that hands this stage out (there is no evaluate_rubric tool)
    kind = KIND
    model = RubricAnswer

    def batch(self, ctx: StageContext, key: str) -> tuple[Spec, list[RubricNode]]:
        digest, index = parse_batch_key(key)
        spec = load_spec(ctx, digest)
        if index > len(spec.batches):
            raise StageError(f"{key!r}: the rubric has only {len(spec.batches)} batch(es)")
        return spec, spec.batches[index - 1]

    def build_request(self, ctx: StageContext, key: str, guidance: str) -> SampleRequest:
        spec, leaves = self.batch(ctx, key)
        ancestors = spec.ancestors()
        prefix, _, _ = prefix_blocks(ctx, self.name)
        requirements = "\n".join(_leaf_text(leaf, ancestors[leaf.id]) for leaf in leaves)
        return SampleRequest(
            stage=self.name,
            system="",
            prefix=prefix,
            prompt=prompts.render(
                "eval_rubric",
                requirements=requirements,
                schema=self.schema_text(),
                guidance=guidance_block(guidance),
            ),
            output_schema=self.schema(),
            schema_name="grades",
            max_tokens=min(16_000, 1_000 + 400 * len(leaves)),
        )

    def accept(self, ctx: StageContext, key: str, text: str, structured: Any | None) -> Accepted:
        accepted = super().accept(ctx, key, text, structured)
        answer = RubricAnswer.model_validate_json(accepted.content)
        _, leaves = self.batch(ctx, key)
        expected = [leaf.id for leaf in leaves]
        given = [g.id for g in answer.grades]
        errors = []
        missing = [i for i in expected if i not in given]
        if missing:
            errors.append("grades missing for: " + ", ".join(missing))
        unknown = sorted({i for i in given if i not in expected})
        if unknown:
            errors.append("not requirements of this batch: " + ", ".join(unknown))
        twice = sorted({i for i in given if given.count(i) > 1})
        if twice:
            errors.append("graded more than once: " + ", ".join(twice))
        if errors:
            raise ValidationFailed("the grades do not match the requirements: " + "; ".join(errors), errors)
        lines = line_counts(run_files(ctx))
        cited = [f"{g.id}: {p}" for g in answer.grades for p in bad_citations(g.justification, lines)]
        if cited:
            raise ValidationFailed(
                "the justifications cite code that does not exist (cite `path:line` of the files shown): "
                + "; ".join(cited),
                cited,
            )
        return accepted


STAGE = RubricStage()


def plan_rubric(
    ctx: StageContext,
    rubric: dict[str, Any] | str | Path,
    *,
    categories: Iterable[str] = DEFAULT_CATEGORIES,
    batch_size: int = DEFAULT_BATCH_SIZE,
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
) -> list[str]:
    """Validate the rubric, keep it with the run, and return the batch keys to grade."""
    data = load_rubric(rubric) if isinstance(rubric, (str, Path)) else rubric
    root = parse_rubric(data)
    chosen = check_categories(categories)
    if batch_size < 1:
        raise StageError(f"batch_size must be at least 1, got {batch_size}")
    if not graded_leaves(root, chosen):
        present = sorted({leaf.task_category or "" for leaf in root.leaves()})
        raise ValidationFailed(
            f"the rubric has no leaves of the categories {', '.join(chosen)} (its leaves are: "
            f"{', '.join(present)}); choose other categories",
            ["no leaves in the chosen categories"],
        )
    run_files(ctx)  # an empty repository is refused before anything is stored
    set_budget(ctx, budget_tokens)
    spec = {"rubric": data, "categories": chosen, "batch_size": batch_size}
    digest = canonical_hash(spec)[:12]
    put_once(
        ctx,
        f"rubric-spec:{digest}",
        json.dumps(spec, indent=1, sort_keys=True),
        {"stage": STAGE.name, "rubric_id": root.id, "categories": chosen},
    )
    keys = load_spec(ctx, digest).keys()
    STAGE.prepare(ctx, keys[0])  # missing inputs are reported now, not per batch
    return keys


def summarize_rubric(ctx: StageContext, keys: list[str], cost_usd: float | None = None) -> RubricResult:
    """Aggregate the stored batches (all must be current) and store the result as evaluation `rubric`."""
    require_current(STAGE, ctx, keys, "rubric batch")
    digest, _ = parse_batch_key(keys[0])
    spec = load_spec(ctx, digest)
    by_id = {leaf.id: leaf for leaf in spec.leaves}
    graded: list[GradedLeaf] = []
    for key in keys:
        answer = RubricAnswer.model_validate_json(ctx.store.get_artifact(ctx.run_id, KIND, key).content)
        for g in answer.grades:
            leaf = by_id[g.id]
            graded.append(
                GradedLeaf(
                    id=leaf.id,
                    requirements=leaf.requirements,
                    task_category=leaf.task_category or "",
                    weight=leaf.weight,
                    score=g.score,
                    justification=g.justification,
                    batch=key,
                )
            )
    scores = node_scores(spec.root, {g.id: g.score for g in graded}, spec.categories)
    leaf_count = {node.id: len(graded_leaves(node, spec.categories)) for node in spec.root.sub_tasks}
    top = [
        NodeScore(
            id=node.id,
            requirements=node.requirements,
            weight=node.weight,
            score_percent=None if scores[node.id] is None else 100 * scores[node.id],  # type: ignore[operator]
            graded_leaves=leaf_count[node.id],
        )
        for node in spec.root.sub_tasks
    ]
    root_score = scores[spec.root.id]
    _, selection, _ = prefix_blocks(ctx, STAGE.name)
    samplers, models = provenance(ctx, keys)
    result = RubricResult(
        measure=coverage_label(spec.categories),
        samplers=samplers,
        models=models,
        graded_leaves=len(spec.leaves),
        run_id=ctx.run_id,
        rubric_id=spec.root.id,
        rubric_hash=digest,
        categories=spec.categories,
        score_percent=100 * (root_score or 0.0),
        top_level=top,
        leaves=graded,
        excluded_leaves=len(spec.root.leaves()) - len(spec.leaves),
        batches=keys,
        files_included=selection.paths,
        files_left_out=selection.left_out,
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
            "score_percent": result.score_percent,
            "rubric": digest,
            "categories": spec.categories,
            "samplers": samplers,
            "models": models,
        },
    )
    return result


async def grade_run(
    ctx: StageContext,
    rubric: dict[str, Any] | str | Path,
    *,
    categories: Iterable[str] = DEFAULT_CATEGORIES,
    batch_size: int = DEFAULT_BATCH_SIZE,
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
    force: bool = False,
    concurrency: int = 4,
) -> RubricResult:
    """Grade a run's repository against a PaperBench rubric (its JSON data, or a path to rubric.json)."""
    keys = plan_rubric(ctx, rubric, categories=categories, batch_size=batch_size, budget_tokens=budget_tokens)
    results = await run_keys(STAGE, ctx, keys, force=force, concurrency=concurrency)
    return summarize_rubric(ctx, keys, total_cost(results))
