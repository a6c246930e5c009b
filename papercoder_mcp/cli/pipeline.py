"""CLI commands that run the pipeline: `full`, `cost`, `export` (registered on the app of `cli`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import anyio
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from papercoder_mcp.cli.app import app, console, err_console, fail, format_cost, info, open_store, warn
from papercoder_mcp.errors import PaperCoderError
from papercoder_mcp.pipeline.orchestrator import PipelineOptions, PipelineResult, ProgressEvent, run_pipeline
from papercoder_mcp.store import Store

if TYPE_CHECKING:
    from papercoder_mcp.samplers.anthropic import AnthropicSampler

T = TypeVar("T")

SmokeOption = Annotated[
    bool,
    typer.Option("--smoke", help="Also import the modules and run the entry point with --help (confined)"),
]
SmokeInstallOption = Annotated[
    bool, typer.Option("--smoke-install", help="Smoke run: install requirements into a throwaway venv")
]
AllowFindingsOption = Annotated[
    bool, typer.Option("--allow-findings", help="Export even if verification errors remain")
]
EXIT_INCOMPLETE = 1
EXIT_INTERRUPTED = 130


def run_closing(sampler: AnthropicSampler, work: Callable[[], Awaitable[T]]) -> T:
    """Run async work, then close the sampler's HTTP client inside the same event loop.

    A client left open is closed later by the garbage collector, in whatever loop runs then."""

    async def main() -> T:
        try:
            return await work()
        finally:
            await sampler.aclose()

    return anyio.run(main)


def anthropic_sampler(model: str | None, alternatives: str = "") -> AnthropicSampler:
    """The Anthropic sampler for a CLI command, or one error line saying how to go on without a key."""
    from papercoder_mcp.samplers.anthropic import DEFAULT_MODEL, AnthropicSampler

    if not os.environ.get("ANTHROPIC_API_KEY"):
        fail(
            "ANTHROPIC_API_KEY is not set: export it to call the model from the shell; "
            + (
                alternatives
                or "or use the tools of `papercoder-mcp serve` from an MCP client (they can use the client's "
                "model, or hand the work to the agent)"
            )
        )
    return AnthropicSampler(model=model or DEFAULT_MODEL)


def _find_or_start_run(store: Store, paper: Path | None, resume: str | None, new: bool) -> str:
    from papercoder_mcp.pipeline.ingest import ingest_paper, source_hash

    if resume:
        run = store.get_run(resume)
        info(f"resuming run {run.id} ({run.title})")
        return run.id
    if paper is None:
        fail("give a paper to start a run, or --resume RUN to continue one")
    if not new and paper.exists():
        earlier = store.find_runs_by_source(source_hash(paper))
        if earlier:
            info(f"resuming run {earlier[0].id} for this paper (pass --new to start over)")
            return earlier[0].id
    run, parsed = ingest_paper(store, paper)
    for w in parsed.warnings:
        warn(w)
    info(f"started run {run.id}: {run.title}")
    return run.id


def _dry_run(paper: Path | None, resume: str | None, model: str | None) -> None:
    from papercoder_mcp.paper import Paper, parse_document
    from papercoder_mcp.pipeline.estimate import estimate_run
    from papercoder_mcp.samplers.anthropic import DEFAULT_MODEL
    from papercoder_mcp.stages import StageContext
    from papercoder_mcp.stages.inputs import file_order

    files: int | None = None
    if resume:
        with open_store() as store:
            parsed = Paper.model_validate_json(store.get_artifact(resume, "paper").content)
            try:
                files = len(file_order(StageContext(store=store, run_id=resume)).files)
            except PaperCoderError:
                files = None
    elif paper is not None:
        parsed = parse_document(paper)
    else:
        fail("give a paper (or --resume RUN) to estimate")
    est = estimate_run(parsed, model or DEFAULT_MODEL, files)
    table = Table(title=f"Planned calls ({est.model}); nothing was sent to a model")
    for col in ("stage", "file", "input tokens", "of which cached", "output tokens", "cost"):
        table.add_column(col, justify="left" if col in ("stage", "file") else "right")
    for c in est.calls:
        table.add_row(
            c.stage,
            c.key,
            f"{c.input_tokens:,}",
            f"{c.cached_input_tokens:,}",
            f"{c.output_tokens:,}",
            format_cost(c.cost_usd),
        )
    console.print(table)
    if est.files_assumed:
        console.print(f"The file count is not known before design_architecture; assumed {est.files} files.")
    console.print(
        f"Estimated total: {format_cost(est.total_usd)} with prompt caching "
        f"(without caching: {format_cost(est.baseline_usd)})."
    )


def _progress_printer(progress: Progress | None):
    task = progress.add_task("planning", total=None) if progress is not None else None

    def on_event(event: ProgressEvent) -> None:
        label = f"{event.stage}{' ' + event.key if event.key else ''}"
        if progress is not None and task is not None:
            progress.update(
                task,
                total=event.total or None,
                completed=event.done,
                description=f"{label or 'done'}  [{event.total_tokens:,} tokens, {format_cost(event.total_cost_usd)}]",
            )
        if event.kind == "step_failed":
            warn(f"{label}: {event.message}")
        elif progress is None and event.kind in ("step_finished", "step_skipped"):
            verb = "reused" if event.kind == "step_skipped" else "done"
            info(
                f"[{event.done}/{event.total}] {label} {verb} (run cost {format_cost(event.total_cost_usd)})"
            )

    return on_event


def _summary(result: PipelineResult) -> None:
    counts: dict[str, int] = {}
    for s in result.steps:
        counts[s.state] = counts.get(s.state, 0) + 1
    parts = ", ".join(f"{n} {state}" for state, n in counts.items())
    info(f"run {result.run_id}: {result.status} ({parts}); cost {format_cost(result.total_cost_usd)}")
    for s in result.failed_steps():
        warn(f"{s.stage}{' ' + s.key if s.key else ''}: {s.state}: {s.message}")


@app.command()
def full(
    paper: Annotated[
        Path | None, typer.Argument(help="The paper: .pdf, .tex, .md, LaTeX dir or .tar.gz")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Directory to write the repository to")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Anthropic model id (default: a current Sonnet)")] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Model calls in flight at once")] = 4,
    max_cost: Annotated[
        float | None, typer.Option("--max-cost", min=0.0, help="Stop before spending more (USD)")
    ] = None,
    resume: Annotated[str | None, typer.Option(help="Continue this run id")] = None,
    new: Annotated[bool, typer.Option("--new", help="Start a new run even if this paper has one")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print planned calls and cost; call no model")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an earlier export in --out")] = False,
    refine: Annotated[
        bool, typer.Option("--refine", help="Critique and improve plan, design, order, config and analyses")
    ] = False,
    verify: Annotated[
        bool, typer.Option("--verify/--no-verify", help="Verify and repair the generated files")
    ] = True,
    repair_rounds: Annotated[
        int, typer.Option("--repair-rounds", min=0, help="Rounds of repairs at most")
    ] = 3,
    smoke: SmokeOption = False,
    smoke_install: SmokeInstallOption = False,
    allow_findings: AllowFindingsOption = False,
) -> None:
    """Turn a paper into a repository end to end (resumable: re-running continues where it stopped)."""
    if dry_run:
        _dry_run(paper, resume, model)
        return
    if out is None:
        fail("--out DIR is required: the directory to write the repository to")
    from papercoder_mcp.pipeline.export import check_out_dir

    check_out_dir(out, force)  # before any money is spent
    sampler = anthropic_sampler(
        model,
        "use --dry-run to see what a run would cost; or drive the stages from an MCP client "
        "(`papercoder-mcp serve`), which can use the client's model or hand the work to the agent",
    )
    with open_store() as store:
        run_id = _find_or_start_run(store, paper, resume, new)
        options = PipelineOptions(
            concurrency=concurrency,
            max_cost_usd=max_cost or None,
            refine=refine,
            verify=verify,
            repair_rounds=repair_rounds,
            smoke=smoke,
            smoke_install=smoke_install,
        )
        use_bar = sys.stderr.isatty()
        try:
            if use_bar:
                with Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=err_console,
                ) as bar:
                    printer = _progress_printer(bar)
                    result = run_closing(
                        sampler, lambda: run_pipeline(store, run_id, sampler, options, printer)
                    )
            else:
                printer = _progress_printer(None)
                result = run_closing(sampler, lambda: run_pipeline(store, run_id, sampler, options, printer))
        except KeyboardInterrupt:
            store.update_run(run_id, status="interrupted")
            info(
                f"interrupted; finished steps are kept. Resume with: papercoder-mcp full --resume {run_id} --out {out}"
            )
            raise typer.Exit(EXIT_INTERRUPTED) from None
        _summary(result)
        only_findings = result.status == "failed" and all(s.stage == "verify" for s in result.failed_steps())
        if result.status != "complete" and not (allow_findings and only_findings):
            fail(result.message, EXIT_INCOMPLETE)
        from papercoder_mcp.pipeline.export import export_repo

        exported = export_repo(store, run_id, out, force=force, allow_findings=allow_findings)
        for w in exported.warnings:
            warn(w)
        console.print(f"wrote {len(exported.files)} files to {exported.out_dir}")


@app.command()
def cost(run: Annotated[str, typer.Argument(help="Run id")]) -> None:
    """What a run cost: per stage, per file, and what prompt caching saved."""
    from papercoder_mcp.pipeline.estimate import cache_savings

    with open_store() as store:
        summary = store.cost_summary(run)
        calls = store.calls(run)
    stages = Table(title=f"Cost of run {run} by stage")
    for col in ("stage", "calls", "input", "output", "cache read", "cache write", "cost"):
        stages.add_column(col, justify="left" if col == "stage" else "right")
    for s in summary.by_stage:
        stages.add_row(
            s.stage,
            str(s.calls),
            f"{s.input_tokens:,}",
            f"{s.output_tokens:,}",
            f"{s.cache_read_tokens:,}",
            f"{s.cache_write_tokens:,}",
            format_cost(s.cost_usd) + (" +?" if s.unpriced_calls else ""),
        )
    console.print(stages)
    per_file: dict[str, float] = {}
    for c in calls:
        if c.key:
            per_file[c.key] = per_file.get(c.key, 0.0) + (c.cost_usd or 0.0)
    if per_file:
        files = Table(title="By file (analysis + code)")
        files.add_column("file")
        files.add_column("cost", justify="right")
        for key, usd in sorted(per_file.items(), key=lambda kv: -kv[1]):
            files.add_row(key, format_cost(usd))
        console.print(files)
    saved = [cache_savings(c.model, c.cache_read_tokens, c.cache_write_tokens) for c in calls]
    known = [s for s in saved if s is not None]
    console.print(
        f"Total {format_cost(summary.total_usd)} over {summary.calls} calls"
        + (f" ({summary.unpriced_calls} with unknown price)" if summary.unpriced_calls else "")
        + (f"; prompt caching saved {format_cost(sum(known))}" if known else "")
    )


@app.command("export")
def export_cmd(
    run: Annotated[str, typer.Argument(help="Run id")],
    out: Annotated[Path, typer.Argument(help="Directory to write the repository to")],
    force: Annotated[bool, typer.Option("--force", help="Replace an earlier export in DIR")] = False,
    allow_findings: AllowFindingsOption = False,
) -> None:
    """Write a finished run's repository to a directory (refuses an incomplete or failing run)."""
    from papercoder_mcp.pipeline.export import export_repo

    with open_store() as store:
        result = export_repo(store, run, out, force=force, allow_findings=allow_findings)
    for w in result.warnings:
        warn(w)
    console.print(
        f"wrote {len(result.files)} files to {result.out_dir}"
        + (f" (git commit {result.git_commit[:10]})" if result.git_commit else "")
    )


@app.command("verify")
def verify_cmd(
    run: Annotated[str, typer.Argument(help="Run id")],
    smoke: SmokeOption = False,
    smoke_install: SmokeInstallOption = False,
    repair: Annotated[
        int, typer.Option("--repair", min=0, help="Rounds of model repairs (needs ANTHROPIC_API_KEY)")
    ] = 0,
    model: Annotated[str | None, typer.Option(help="Anthropic model id for repairs")] = None,
) -> None:
    """Check a run's generated files without running them (optionally smoke-run and repair them)."""
    from papercoder_mcp.pipeline.repair import verify_and_repair, verify_and_store
    from papercoder_mcp.stages import StageContext

    with open_store() as store:
        ctx = StageContext(store=store, run_id=run)
        store.get_run(run)
        if repair:
            sampler = anthropic_sampler(model)
            ctx.sampler = sampler
            report = run_closing(
                sampler,
                lambda: verify_and_repair(ctx, rounds=repair, smoke=smoke, smoke_install=smoke_install),
            )
            verification = report.verification
            for r in report.rounds:
                info(
                    f"repair round {r.round}: {', '.join(r.files)}: {r.problems_before} -> {r.problems_after} problem(s)"
                )
            info(report.message)
        else:
            verification = verify_and_store(ctx, smoke=smoke, smoke_install=smoke_install)
    table = Table(
        title=f"Verification of run {run}: {verification.files_checked} files, {verification.lines_checked} lines"
    )
    for col in ("file", "line", "kind", "severity", "message"):
        table.add_column(col)
    for f in verification.findings:
        table.add_row(f.file, str(f.line or ""), f.kind, f.severity, f.message)
    console.print(table)
    if verification.data_to_provide:
        console.print("Data you must provide: " + ", ".join(verification.data_to_provide))
    if not verification.passed:
        fail(
            f"verification found {sum(f.severity == 'error' for f in verification.findings)} error(s)",
            EXIT_INCOMPLETE,
        )
    console.print("verification passed")
