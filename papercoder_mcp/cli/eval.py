"""CLI command `eval`: judge a run's repository (Paper2Code-style) or grade it against a PaperBench rubric."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from papercoder_mcp.cli.app import app, console, fail, format_cost, info, open_store
from papercoder_mcp.cli.pipeline import (
    MaxCostOption,
    PriceOption,
    anthropic_sampler,
    check_price,
    run_closing,
)

if TYPE_CHECKING:
    from papercoder_mcp.evaluation.models import JudgeResult, RubricResult


class EvalMode(StrEnum):
    judge = "judge"
    rubric = "rubric"


@app.command("eval")
def eval_command(
    run: Annotated[str, typer.Argument(help="Run id (see `papercoder-mcp runs`)")],
    mode: Annotated[
        EvalMode, typer.Option("--mode", help="judge: 1-5 score with critiques; rubric: PaperBench rubric")
    ] = EvalMode.judge,
    samples: Annotated[int, typer.Option("--samples", "-n", min=1, help="judge: samples to average")] = 8,
    reference: Annotated[
        Path | None,
        typer.Option("--reference", file_okay=False, help="judge: reference implementation directory"),
    ] = None,
    rubric: Annotated[
        Path | None, typer.Option("--rubric", dir_okay=False, help="rubric: a PaperBench rubric.json")
    ] = None,
    category: Annotated[
        list[str] | None,
        typer.Option(
            "--category", help="rubric: task category to grade (repeatable; default Code Development)"
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="rubric: requirements per call")
    ] = 10,
    budget: Annotated[
        int | None,
        typer.Option(
            "--budget-tokens", min=1_000, help="most repository tokens in the prompt [default: 120000]"
        ),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Anthropic model id (default: a current Sonnet)")] = None,
    force: Annotated[bool, typer.Option("--force", help="sample every part again")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    max_cost: MaxCostOption = None,
    price: PriceOption = None,
) -> None:
    """Evaluate a run's repository: a Paper2Code-style judge, or PaperBench rubric grading."""
    from papercoder_mcp.evaluation import grade_run, judge_run
    from papercoder_mcp.evaluation.models import JudgeResult
    from papercoder_mcp.evaluation.repo_context import DEFAULT_BUDGET_TOKENS
    from papercoder_mcp.evaluation.rubric import DEFAULT_CATEGORIES, load_rubric
    from papercoder_mcp.pipeline.budget import budget_for
    from papercoder_mcp.stages import StageContext

    budget = budget or DEFAULT_BUDGET_TOKENS

    rubric_data = None
    if mode is EvalMode.rubric:
        if rubric is None:
            fail("--mode rubric needs --rubric FILE (a PaperBench rubric.json)")
        rubric_data = load_rubric(rubric)  # a malformed rubric is refused before any spending
    check_price(model, max_cost, price)
    sampler = anthropic_sampler(
        model, "or run the evaluate_repo tool from an MCP client (`papercoder-mcp serve`)"
    )
    with open_store() as store:
        # The cap is on what this evaluation spends, whatever the run cost before.
        ctx = StageContext(store=store, run_id=run, sampler=sampler, budget=budget_for(max_cost))
        store.get_run(run)
        if mode is EvalMode.judge:
            info(f"judging run {run} with {samples} sample(s)")
            result: JudgeResult | RubricResult = run_closing(
                sampler,
                lambda: judge_run(
                    ctx, samples=samples, reference_dir=reference, budget_tokens=budget, force=force
                ),
            )
        else:
            assert rubric_data is not None
            info(f"grading run {run} against {rubric}")
            result = run_closing(
                sampler,
                lambda: grade_run(
                    ctx,
                    rubric_data,
                    categories=category or DEFAULT_CATEGORIES,
                    batch_size=batch_size,
                    budget_tokens=budget,
                    force=force,
                ),
            )
    if as_json:
        typer.echo(json.dumps(result.model_dump(mode="json"), indent=2))
    elif isinstance(result, JudgeResult):
        print_judge(result)
    else:
        print_rubric(result)


def _left_out(paths: list[str]) -> None:
    if paths:
        console.print(
            Text(f"left out for the token budget: {', '.join(paths)}", style="yellow"), soft_wrap=True
        )


def print_judge(r: JudgeResult) -> None:
    console.print(
        Text.assemble(
            ("score ", "bold"),
            (f"{r.mean:.2f}", "bold cyan"),
            f" / 5  ({r.measure}; {r.mode}, {r.n} sample(s): {', '.join(map(str, r.scores))}; "
            + (f"stdev {r.stdev:.2f}, range {r.min}-{r.max}; " if r.stdev is not None else "")
            + f"judged by {', '.join(r.models or r.samplers)}; cost {format_cost(r.cost_usd)})",
        )
    )
    for severity, items in r.critiques.items():
        if not items:
            continue
        table = Table(
            title=f"{severity} severity", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False
        )
        table.add_column("component")
        table.add_column("where", no_wrap=True)
        table.add_column("critique")
        for c in items:
            table.add_row(Text(c.component), Text(c.location), Text(c.text))
        console.print(table)
    _left_out(r.files_left_out)


def print_rubric(r: RubricResult) -> None:
    console.print(
        Text.assemble(
            (f"{r.measure}: ", "bold"),
            (f"{r.score_percent:.1f}%", "bold cyan"),
            f"  ({', '.join(r.categories)}; {len(r.leaves)} requirements graded, {r.excluded_leaves} of other "
            f"categories left out; graded by {', '.join(r.models or r.samplers)}; cost {format_cost(r.cost_usd)})",
        )
    )
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("node")
    table.add_column("weight", justify="right")
    table.add_column("graded", justify="right")
    table.add_column("score", justify="right")
    for node in r.top_level:
        score = "n/a" if node.score_percent is None else f"{node.score_percent:.1f}%"
        table.add_row(Text(node.requirements[:80]), f"{node.weight:g}", str(node.graded_leaves), score)
    console.print(table)
    _left_out(r.files_left_out)
