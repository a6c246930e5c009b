"""CLI commands that run the pipeline: `full`, `cost`, `export` (registered on the app of `cli`)."""

from __future__ import annotations

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

if TYPE_CHECKING:
    from papercoder_mcp.pipeline.orchestrator import PipelineResult, ProgressEvent
    from papercoder_mcp.samplers.anthropic import AnthropicSampler, RetryNotice
    from papercoder_mcp.store import Store

T = TypeVar("T")

SmokeOption = Annotated[
    bool,
    typer.Option(
        "--smoke",
        help="Also install the requirements (cached venv, wheels only) and run the tests and the smoke mode "
        "in the sandbox",
    ),
]
UnsandboxedOption = Annotated[
    bool,
    typer.Option(
        "--unsandboxed",
        help="With --smoke where no sandbox (bubblewrap) works: run the code with limits but without "
        "isolation (it can read your files and use the network)",
    ),
]
AllowFindingsOption = Annotated[
    bool, typer.Option("--allow-findings", help="Export even if verification errors remain")
]
MaxCostOption = Annotated[
    float | None,
    typer.Option(
        "--max-cost",
        min=0.0,
        help="Stop before a call that could take the spending past this (USD; 0: spend nothing)",
    ),
]
PriceOption = Annotated[
    str | None,
    typer.Option(
        "--price",
        help="The model's price as INPUT/OUTPUT USD per million tokens (e.g. 3/15), for a model whose price "
        "is not known, so --max-cost can be enforced",
    ),
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


def anthropic_sampler(
    model: str | None,
    alternatives: str = "",
    *,
    timeout: float | None = None,
    on_retry: Callable[[RetryNotice], None] | None = None,
) -> AnthropicSampler:
    """The Anthropic sampler for a CLI command, or one error line saying how to go on without a key."""
    from papercoder_mcp.samplers.keys import configured_key, placeholder_problem

    if problem := placeholder_problem(configured_key()):
        fail(problem)
    if not configured_key():
        fail(
            "ANTHROPIC_API_KEY is not set: export it to call the model from the shell; "
            + (
                alternatives
                or "or use the tools of `papercoder-mcp serve` from an MCP client (they can use the client's "
                "model, or hand the work to the agent)"
            )
        )
    from papercoder_mcp.samplers.anthropic import DEFAULT_MODEL, DEFAULT_TIMEOUT_S, AnthropicSampler

    return AnthropicSampler(
        model=model or DEFAULT_MODEL, timeout=timeout or DEFAULT_TIMEOUT_S, on_retry=on_retry
    )


TimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--timeout", min=1.0, help="Seconds to wait for one model response before retrying [default: 600]"
    ),
]


def check_paper_input(paper: Path) -> None:
    """Refuse a paper that is not there before anything else (the key check, a model call) happens."""
    from papercoder_mcp.pipeline.ingest import is_arxiv

    if not paper.expanduser().exists() and is_arxiv(paper) is None:
        fail(
            f"{paper}: no such file or directory (give the path of a .pdf, .tex, .md or LaTeX source folder, "
            "or an arXiv id such as arxiv:2401.01967)"
        )


def check_price(model: str | None, max_cost: float | None, price: str | None) -> None:
    """Register a price given with --price; refuse a cap on a model with no known price."""
    from papercoder_mcp.samplers.anthropic import DEFAULT_MODEL
    from papercoder_mcp.samplers.pricing import parse_price, price_for, set_price

    name = model or DEFAULT_MODEL
    if price is not None:
        try:
            set_price(name, *parse_price(price))
        except ValueError as exc:
            fail(f"--price: {exc}")
    if max_cost is not None and price_for(name) is None:
        fail(
            f"the price of model {name!r} is not known, so --max-cost cannot be enforced: give it with "
            "--price INPUT/OUTPUT (USD per million tokens, e.g. 3/15), or drop --max-cost"
        )


def _find_or_start_run(store: Store, paper: Path | None, resume: str | None, new: bool) -> str:
    from papercoder_mcp.paper.arxiv import source_name
    from papercoder_mcp.pipeline.ingest import ingest_paper, is_arxiv, source_hash

    if resume:
        run = store.get_run(resume)
        info(f"resuming run {run.id} ({run.title})")
        return run.id
    assert paper is not None  # checked by the caller before the key check
    arxiv_id = is_arxiv(paper)
    if not new:
        earlier = (
            store.find_runs_by_source_name(source_name(arxiv_id))
            if arxiv_id
            else store.find_runs_by_source(source_hash(paper))
        )
        if earlier:
            info(f"resuming run {earlier[0].id} for this paper (pass --new to start over)")
            return earlier[0].id
    run, parsed = ingest_paper(store, f"arxiv:{arxiv_id}" if arxiv_id else paper)
    for w in parsed.warnings:
        warn(w)
    info(f"started run {run.id}: {run.title}")
    return run.id


def default_out_dir(paper: Path | None, run_id: str | None) -> Path:
    """Where a run's repository goes when --out is not given: beside the paper, else in this directory."""
    from papercoder_mcp.paper.arxiv import file_stem
    from papercoder_mcp.pipeline.ingest import is_arxiv

    arxiv_id = is_arxiv(paper) if paper is not None else None
    if arxiv_id is not None:
        return Path.cwd() / f"{file_stem(arxiv_id)}-repo"
    if paper is not None:
        folder = paper.expanduser().resolve()
        return (folder if folder.is_dir() else folder.parent) / f"{folder.stem}-repo"
    return Path.cwd() / f"papercoder-{run_id}"


def _dry_run(
    paper: Path | None, resume: str | None, model: str | None, refine: bool, repair_rounds: int
) -> None:
    from papercoder_mcp.paper import Paper, parse_document
    from papercoder_mcp.pipeline.estimate import estimate_run
    from papercoder_mcp.pipeline.ingest import is_arxiv, read_arxiv
    from papercoder_mcp.samplers.anthropic import DEFAULT_MODEL
    from papercoder_mcp.samplers.base import PDF_TOKENS_PER_PAGE
    from papercoder_mcp.stages import StageContext
    from papercoder_mcp.stages.inputs import file_order

    files: int | None = None
    typeset_note = ""
    if resume:
        with open_store() as store:
            parsed = Paper.model_validate_json(store.get_artifact(resume, "paper").content)
            try:
                files = len(file_order(StageContext(store=store, run_id=resume)).files)
            except PaperCoderError:
                files = None
    elif paper is not None and is_arxiv(paper):
        with open_store() as store:  # a download kept by an earlier run is reused, not fetched again
            parsed, _ = read_arxiv(str(is_arxiv(paper)), store)
        if parsed.source_format == "latex":
            # A run also fetches the PDF beside the source; a dry run downloads no more than it must.
            typeset_note = (
                "A run also fetches the paper's PDF and sends it as a document "
                f"({PDF_TOKENS_PER_PAGE:,} tokens a page), not counted here."
            )
    elif paper is not None:
        check_paper_input(paper)
        parsed = parse_document(paper)
    else:
        fail("give a paper (or --resume RUN) to estimate")
    pdf_pages: int | None = None
    if resume:
        from papercoder_mcp.pipeline.originals import documents_enabled, original_info

        with open_store() as store:
            pdf = original_info(store, resume)
        pdf_pages = pdf.pages if pdf is not None and pdf.sendable and documents_enabled() else 0
    est = estimate_run(
        parsed, model or DEFAULT_MODEL, files, refine=refine, repair_rounds=repair_rounds, pdf_pages=pdf_pages
    )
    table = Table(title=f"Planned calls ({est.model}); nothing was sent to a model")
    table.add_column("stage", no_wrap=True)
    table.add_column("file", no_wrap=True)
    for col in ("in tokens", "cached", "out tokens", "cost"):
        table.add_column(col, justify="right", no_wrap=True)
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
    if typeset_note:
        console.print(typeset_note)
    if est.pdf_pages:
        console.print(
            f"The model also reads the {est.pdf_pages}-page PDF as a document "
            f"(counted at {PDF_TOKENS_PER_PAGE:,} tokens a page, cached with the paper)."
        )
    if est.files_assumed:
        console.print(f"The file count is not known before design_architecture; assumed {est.files} files.")
    if est.repair_note:
        console.print(est.repair_note)
    console.print(
        f"Estimated total: {format_cost(est.total_usd)} with prompt caching "
        f"(without caching: {format_cost(est.baseline_usd)})."
    )


def _strip_label(label: str, message: str) -> str:
    """A step's message without the step's own name in front (stage errors already carry it)."""
    while label and message.startswith(label + ": "):
        message = message[len(label) + 2 :]
    return message


class _Display:
    """What `full` shows while it runs: a bar on a terminal, one line per step otherwise.

    Every step failure is shown once, where it happens, as failed; the closing summary only counts."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.task = progress.add_task("planning", total=None) if progress is not None else None
        self.failed = 0

    def _describe(self, text: str) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, description=text)

    def on_event(self, event: ProgressEvent) -> None:
        label = f"{event.stage}{' ' + event.key if event.key else ''}"
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, total=event.total or None, completed=event.done)
        totals = f"[{event.total_tokens:,} tokens, {format_cost(event.total_cost_usd)}]"
        if event.kind == "step_failed":
            self.failed += 1
            self._describe(f"{label} failed  {totals}")
            warn(f"{label} failed: {_strip_label(label, event.message)}")
        elif event.kind == "step_started":
            self._describe(f"{label}  {totals}")
        elif event.kind in ("step_finished", "step_skipped"):
            verb = "reused" if event.kind == "step_skipped" else "done"
            self._describe(f"{label} {verb}  {totals}")
            if self.progress is None:
                info(
                    f"[{event.done}/{event.total or '?'}] {label} {verb} (run cost {format_cost(event.total_cost_usd)})"
                )

    def on_retry(self, notice: RetryNotice) -> None:
        label = f"{notice.stage}{' ' + notice.key if notice.key else ''}"
        text = (
            f"{label}: {notice.reason}; attempt {notice.attempt + 1} of {notice.max_attempts} "
            f"in {notice.wait_s:.0f}s"
        )
        self._describe(text)
        if self.progress is None:
            info(text)


def _summary(result: PipelineResult, display: _Display) -> None:
    counts: dict[str, int] = {}
    for s in result.steps:
        counts[s.state] = counts.get(s.state, 0) + 1
    parts = ", ".join(f"{n} {state}" for state, n in counts.items())
    info(f"run {result.run_id}: {result.status} ({parts}); cost {format_cost(result.total_cost_usd)}")
    # Steps that failed without an event (blocked behind a failure, stopped by the budget) are named here.
    for s in result.failed_steps():
        if s.state != "failed" or not display.failed:
            label = f"{s.stage}{' ' + s.key if s.key else ''}"
            warn(f"{label}: {s.state}: {_strip_label(label, s.message)}")


@app.command()
def full(
    paper: Annotated[
        Path | None,
        typer.Argument(
            help="The paper: .pdf, .tex, .md, LaTeX dir or .tar.gz, or an arXiv id or URL", show_default=False
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Directory for the repository [default: the run's earlier one, else PAPER-repo beside the paper]",
            show_default=False,
        ),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Anthropic model id (default: a current Sonnet)")] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Model calls in flight at once")] = 4,
    max_cost: MaxCostOption = None,
    price: PriceOption = None,
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
    unsandboxed: UnsandboxedOption = False,
    allow_findings: AllowFindingsOption = False,
    timeout: TimeoutOption = None,
    lease_wait: Annotated[
        float,
        typer.Option(
            "--wait", min=0.0, help="If another pipeline is working on the run, wait this many seconds for it"
        ),
    ] = 0.0,
) -> None:
    """Turn a paper into a repository end to end (resumable: re-running continues where it stopped)."""
    if dry_run:
        _dry_run(paper, resume, model, refine, repair_rounds if verify else 0)
        return
    from papercoder_mcp.pipeline.export import check_out_dir
    from papercoder_mcp.pipeline.orchestrator import PipelineOptions, run_pipeline

    # Input checks first: a missing paper or an unknown run is reported as such, not as a missing key.
    remembered: Path | None = None
    if resume:
        with open_store() as store:
            saved = store.get_run(resume).settings.get("export_dir")
        remembered = Path(saved) if saved else None
    elif paper is None:
        fail("give a paper to start a run, or --resume RUN to continue one")
    else:
        check_paper_input(paper)
    target = out or remembered or default_out_dir(paper, resume)
    check_out_dir(target, force)  # before any money is spent
    check_price(model, max_cost, price)
    use_bar = sys.stderr.isatty()
    progress = (
        Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
        )
        if use_bar
        else None
    )
    display = _Display(progress)
    sampler = anthropic_sampler(
        model,
        "use --dry-run to see what a run would cost; or drive the stages from an MCP client "
        "(`papercoder-mcp serve`), which can use the client's model or hand the work to the agent",
        timeout=timeout,
        on_retry=display.on_retry,
    )
    from papercoder_mcp.store.lease import RunLease

    with open_store() as store:
        run_id = _find_or_start_run(store, paper, resume, new)
        # Held from here to the end of the export: a second pipeline on this run is refused before it
        # changes anything (or waits with --wait), and a lease left by a killed process expires.
        lease = RunLease(store, run_id, "papercoder-mcp full", wait_s=lease_wait).acquire()
        try:
            run = store.get_run(run_id)
            store.update_run(
                run_id, settings={**run.settings, "export_dir": str(target.expanduser().resolve())}
            )
            options = PipelineOptions(
                concurrency=concurrency,
                max_cost_usd=max_cost,
                refine=refine,
                verify=verify,
                repair_rounds=repair_rounds,
                smoke=smoke,
                unsandboxed=unsandboxed,
            )
            try:
                if progress is not None:
                    with progress:
                        result = run_closing(
                            sampler, lambda: run_pipeline(store, run_id, sampler, options, display.on_event)
                        )
                else:
                    result = run_closing(
                        sampler, lambda: run_pipeline(store, run_id, sampler, options, display.on_event)
                    )
            except KeyboardInterrupt:
                store.update_run(run_id, status="needs-input")
                info(
                    f"interrupted; finished steps are kept. Resume with: papercoder-mcp full --resume {run_id}"
                )
                raise typer.Exit(EXIT_INTERRUPTED) from None
            _summary(result, display)
            only_findings = result.status == "failed" and all(
                s.stage == "verify" for s in result.failed_steps()
            )
            if result.status != "verified" and not (allow_findings and only_findings):
                fail(
                    f"run {run_id} is {result.status}; finished steps are kept: papercoder-mcp full --resume {run_id}",
                    EXIT_INCOMPLETE,
                )
            from papercoder_mcp.pipeline.export import export_repo

            exported = export_repo(store, run_id, target, force=force, allow_findings=allow_findings)
            for w in exported.warnings:
                warn(w)
            console.print(f"wrote {len(exported.files)} files to {exported.out_dir}")
        finally:
            lease.release()


@app.command()
def cost(run: Annotated[str, typer.Argument(help="Run id")]) -> None:
    """What a run cost: per stage, per file, and what prompt caching saved."""
    from papercoder_mcp.cli.app import agent_written_steps
    from papercoder_mcp.pipeline.estimate import cache_savings

    with open_store() as store:
        summary = store.cost_summary(run)
        calls = store.calls(run)
        written = agent_written_steps(store.list_artifacts(run))
    if not calls:
        console.print(
            f"Run {run} made no billed model call here: $0."
            + (
                f" {written} step(s) were written by the calling agent (handoff) or by hand; what they cost "
                "is on that agent's own bill."
                if written
                else ""
            ),
            soft_wrap=True,
        )
        return
    stages = Table(title=f"Cost of run {run} by stage", title_justify="left")
    stages.add_column("stage", no_wrap=True)
    for col in ("calls", "input", "output", "cache rd", "cache wr", "cost"):
        stages.add_column(col, justify="right", no_wrap=True)
    for s in summary.by_stage:
        stages.add_row(
            s.stage,
            str(s.calls),
            f"{s.input_tokens:,}",
            f"{s.output_tokens:,}",
            f"{s.cache_read_tokens:,}",
            f"{s.cache_write_tokens:,}",
            format_cost(s.cost_usd) + (" +?" if s.unpriced_calls or s.unfinished_calls else ""),
        )
    console.print(stages)
    unfinished = [c for c in calls if c.status != "done"]
    if unfinished:
        left = Table(title="Unfinished calls (sent, never completed: possibly billed, tokens unknown)")
        for col in ("stage", "file", "model", "status", "started"):
            left.add_column(col)
        for c in unfinished:
            left.add_row(c.stage, c.key, c.model, c.status.replace("_", "-"), c.created_at)
        console.print(left)
    per_file: dict[str, float] = {}
    for c in calls:
        if c.key:
            per_file[c.key] = per_file.get(c.key, 0.0) + (c.cost_usd or 0.0)
    if per_file:
        files = Table(title="By file (analysis + code)", title_justify="left")
        files.add_column("file", overflow="fold")
        files.add_column("cost", justify="right", no_wrap=True)
        for key, usd in sorted(per_file.items(), key=lambda kv: -kv[1]):
            files.add_row(key, format_cost(usd))
        console.print(files)
    saved = [cache_savings(c.model, c.cache_read_tokens, c.cache_write_tokens) for c in calls]
    known = [s for s in saved if s is not None]
    console.print(
        f"Total {format_cost(summary.total_usd)} over {summary.calls} calls"
        + (f" ({summary.unpriced_calls} with unknown price)" if summary.unpriced_calls else "")
        + (
            f"; {summary.unfinished_calls} call(s) unfinished, not in the total (tokens unknown)"
            if summary.unfinished_calls
            else ""
        )
        + (f"; prompt caching saved {format_cost(sum(known))}" if known else "")
        + (f"; {written} step(s) written by the agent or by hand, not billed here" if written else "")
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
    unsandboxed: UnsandboxedOption = False,
    repair: Annotated[
        int, typer.Option("--repair", min=0, help="Rounds of model repairs (needs ANTHROPIC_API_KEY)")
    ] = 0,
    model: Annotated[str | None, typer.Option(help="Anthropic model id for repairs")] = None,
    max_cost: MaxCostOption = None,
    price: PriceOption = None,
) -> None:
    """Check a run's generated files without running them (optionally smoke-run and repair them)."""
    from papercoder_mcp.pipeline.repair import verify_and_repair, verify_and_store
    from papercoder_mcp.stages import StageContext

    with open_store() as store:
        ctx = StageContext(store=store, run_id=run)
        store.get_run(run)
        if repair:
            from papercoder_mcp.pipeline.budget import budget_for
            from papercoder_mcp.store.lease import RunLease

            check_price(model, max_cost, price)
            sampler = anthropic_sampler(model)
            ctx.sampler = sampler
            ctx.budget = budget_for(max_cost, spent_usd=store.total_cost(run))
            with RunLease(store, run, "papercoder-mcp verify --repair"):
                report = run_closing(
                    sampler,
                    lambda: verify_and_repair(ctx, rounds=repair, smoke=smoke, unsandboxed=unsandboxed),
                )
            verification = report.verification
            for r in report.rounds:
                info(
                    f"repair round {r.round}: {', '.join(r.files)}: {r.problems_before} -> {r.problems_after} problem(s)"
                )
            info(report.message)
        else:
            verification = verify_and_store(ctx, smoke=smoke, unsandboxed=unsandboxed)
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
