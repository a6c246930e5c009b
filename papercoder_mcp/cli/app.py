"""The command line: a thin layer over the library (parse a paper, inspect runs and artifacts).

Other command modules register on the same `app` (see `cli_pipeline`) and reuse
`open_store`, `console`, `err_console` and the error handling here: any
`PaperCoderError` raised by a command becomes one red `error: ...` line on
stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from papercoder_mcp import __version__
from papercoder_mcp.errors import PaperCoderError, RunIncomplete

if TYPE_CHECKING:
    from papercoder_mcp.paper import Paper
    from papercoder_mcp.store import Store

# Every command imports what it needs inside its body: `--help` and a quick command must not pay for
# pydantic models, the store or the MCP stack (`papercoder-mcp --help` stays near the cost of typer).

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130

# The --db given to this invocation; None means $PAPERCODER_DB or the user data directory.
_db_path: Path | None = None


# -- output helpers ---------------------------------------------------------


def one_line(message: object) -> str:
    """The message with its line breaks folded into spaces, so an error is always one line."""
    return " ".join(line.strip() for line in str(message).splitlines() if line.strip())


def print_error(message: object) -> None:
    """One red `error: ...` line on stderr (never wrapped, markup in the message is not interpreted)."""
    err_console.print(Text(f"error: {one_line(message)}", style="bold red"), soft_wrap=True)


def warn(message: object) -> None:
    err_console.print(Text(f"warning: {one_line(message)}", style="yellow"), soft_wrap=True)


def info(message: object) -> None:
    """A progress or status line on stderr, so stdout stays clean for the command's output."""
    err_console.print(Text(str(message)), soft_wrap=True)


def fail(message: object, code: int = EXIT_ERROR) -> NoReturn:
    """Print one error line and end the command with a non-zero exit code."""
    print_error(message)
    raise typer.Exit(code)


def format_cost(usd: float | None) -> str:
    if usd is None:
        return "n/a"
    return f"${usd:.4f}" if usd < 1 else f"${usd:.2f}"


def format_size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def short_time(iso: str) -> str:
    """'2025-01-02T03:04:05.123456+00:00' -> '2025-01-02 03:04' (UTC, as stored)."""
    return iso[:16].replace("T", " ") if iso else ""


# -- the store ---------------------------------------------------------------


def db_path() -> Path:
    """The store file this invocation uses: --db, else $PAPERCODER_DB, else the user data directory."""
    from papercoder_mcp.store import default_db_path

    return _db_path if _db_path is not None else default_db_path()


def open_store() -> Store:
    """Open the store chosen by --db / $PAPERCODER_DB; use it as a context manager so it is closed."""
    from papercoder_mcp.store import Store

    return Store(db_path())


# -- the app -----------------------------------------------------------------


class PaperCoderGroup(TyperGroup):
    """Turns a PaperCoderError from any command into one error line and exit 1."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except RunIncomplete as exc:
            how = (
                f"Repair it (`papercoder-mcp verify {exc.run_id} --repair 3`) or export anyway with "
                "--allow-findings"
                if exc.verification_only
                else f"Finish it first (`papercoder-mcp full --resume {exc.run_id}`)"
            )
            fail(f"{exc}. {how}.")
        except PaperCoderError as exc:
            fail(exc)
        except KeyboardInterrupt:
            info("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None


app = typer.Typer(
    cls=PaperCoderGroup,
    name="papercoder-mcp",
    help="Turn a machine-learning paper into a code repository (PaperCoder), from the command line.",
    no_args_is_help=True,
    add_completion=False,
    # Plain help: rich panels print `<bool>` after every flag and wrap option help into narrow columns.
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"papercoder-mcp {__version__}")
        raise typer.Exit()


@app.callback()
def _main_options(
    db: Annotated[
        Path | None,
        typer.Option(
            "--db",
            help="SQLite store file (default: $PAPERCODER_DB, else the user data directory)",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_print_version, is_eager=True),
    ] = False,
) -> None:
    """Turn a machine-learning paper into a code repository (PaperCoder), from the command line."""
    global _db_path
    _db_path = db.expanduser() if db is not None else None


# -- parse -------------------------------------------------------------------


class OutputFormat(StrEnum):
    md = "md"
    json = "json"


@app.command()
def parse(
    paper: Annotated[
        Path,
        typer.Argument(
            help="A .pdf, .tex, .md/.txt, a LaTeX source directory or an arXiv .tar.gz, or an arXiv id or URL"
        ),
    ],
    format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Markdown or the Paper model as JSON")
    ] = OutputFormat.md,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout", dir_okay=False)
    ] = None,
    save: Annotated[bool, typer.Option("--save", help="Store the parsed paper as a new run")] = False,
    no_references: Annotated[
        bool, typer.Option("--no-references", help="Leave the reference list out of the output")
    ] = False,
) -> None:
    """Parse a paper and print it as Markdown (or JSON); --save keeps it in the store as a new run."""
    from papercoder_mcp.paper import parse_document
    from papercoder_mcp.pipeline.ingest import ingest_arxiv, is_arxiv, read_arxiv

    arxiv_id = is_arxiv(paper)
    if arxiv_id is not None:
        with open_store() as store:
            parsed, download = read_arxiv(arxiv_id, store)
    else:
        parsed = parse_document(paper)
    for warning in parsed.warnings:
        warn(warning)

    shown = parsed.model_copy(update={"references": []}) if no_references else parsed
    if format is OutputFormat.json:
        text = shown.model_dump_json(indent=2) + "\n"
    else:
        text = shown.to_markdown(include_references=not no_references)
        if not text.endswith("\n"):
            text += "\n"

    if out is not None:
        try:
            out.expanduser().parent.mkdir(parents=True, exist_ok=True)
            out.expanduser().write_text(text, encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror or exc}")
        info(f"wrote {out}")
    else:
        typer.echo(text, nl=False)

    if save and arxiv_id is not None:
        with open_store() as store:
            run_id = ingest_arxiv(store, arxiv_id, fetch=lambda _id: download)[0].id
        info(f"saved as run {run_id}")
    elif save:
        run_id = save_paper(paper, parsed)
        info(f"saved as run {run_id}")


def save_paper(path: Path, paper: Paper) -> str:
    """Create a run for a parsed paper and store it as the run's `paper` artifact; return the run id."""
    from papercoder_mcp.pipeline.ingest import create_run_for

    with open_store() as store:
        return create_run_for(store, path, paper).id


# -- runs --------------------------------------------------------------------


@app.command()
def runs() -> None:
    """List the runs in the store, newest first."""
    with open_store() as store:
        all_runs = store.list_runs()
        if not all_runs:
            info(f"no runs in {store.path}; start one with `papercoder-mcp parse PAPER --save`")
            return
        table = Table(
            title=f"runs in {store.path}", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False
        )
        table.add_column("id", no_wrap=True, style="cyan")
        table.add_column("title", min_width=10)
        table.add_column("status", no_wrap=True)
        table.add_column("artifacts", justify="right")
        table.add_column("cost", justify="right", no_wrap=True)
        table.add_column("created", no_wrap=True)
        for run in all_runs:
            table.add_row(
                run.id,
                Text(run.title or "(untitled)"),
                run.status,
                str(len(store.list_artifacts(run.id))),
                format_cost(store.total_cost(run.id)),
                short_time(run.created_at),
            )
    console.print(table)


# -- show --------------------------------------------------------------------


@app.command()
def show(
    run: Annotated[str, typer.Argument(help="Run id (see `papercoder-mcp runs`)")],
    kind: Annotated[
        str | None,
        typer.Argument(
            help="Artifact kind (paper, plan, code, ...); KIND/KEY also works, e.g. code/src/model.py"
        ),
    ] = None,
    key: Annotated[
        str | None, typer.Argument(help="Artifact key, e.g. a file path for code and analysis")
    ] = None,
    version: Annotated[
        int | None, typer.Option("--version", "-v", min=1, help="An older version instead of the current one")
    ] = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="Print the stored content as is (paper: its JSON)")
    ] = False,
) -> None:
    """Show a run's manifest, or print one of its artifacts."""
    with open_store() as store:
        if kind is None:
            if version is not None:
                raise typer.BadParameter("--version needs a KIND", param_hint="'--version'")
            _print_manifest(store, run)
            return
        if key is None and "/" in kind:
            kind, key = kind.split("/", 1)
        art = store.get_artifact(run, kind, key or "", version)

    if art.kind == "paper" and art.format == "json" and not raw:
        from papercoder_mcp.paper import Paper

        text = Paper.model_validate_json(art.content).to_markdown()
    elif art.format == "base64" and not raw:
        # The original PDF / e-print: bytes, not for a terminal. Say what it is and where to get it.
        meta = art.metadata
        text = (
            f"{meta.get('filename') or art.key}: {meta.get('media_type', '')}, {meta.get('bytes', 0):,} bytes"
            + (f", {meta['pages']} pages" if meta.get("pages") else "")
            + f", sha256 {meta.get('sha256', '')}\n(--raw prints it in base64)\n"
        )
    else:
        text = art.content
    typer.echo(text, nl=not text.endswith("\n"))


def _print_manifest(store: Store, run_id: str) -> None:
    """The same truth as the MCP `get_run` tool: every step done, stale or missing, and the next call."""
    from papercoder_mcp.pipeline.status import run_status

    run = store.get_run(run_id)
    status = run_status(store, run_id)
    artifacts = store.list_artifacts(run_id)
    cost = store.cost_summary(run_id)

    console.print(
        Text.assemble(
            ("run ", "bold"),
            (run.id, "bold cyan"),
            f"  {run.status}",
            ("  complete" if status.complete else "  not complete", "green" if status.complete else "yellow"),
        )
    )
    if not status.complete and status.problems:
        console.print(Text.assemble(("not complete: ", "dim"), "; ".join(status.problems[:6])))
    for label, value in (
        ("title", run.title),
        ("source", run.source),
        ("created", short_time(run.created_at)),
        ("updated", short_time(run.updated_at)),
    ):
        if value:
            console.print(Text.assemble((f"{label}: ", "dim"), value), soft_wrap=True)

    steps = Table(title="steps", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    steps.add_column("stage", no_wrap=True)
    steps.add_column("file", overflow="fold")
    steps.add_column("status", no_wrap=True)
    steps.add_column("version", justify="right", no_wrap=True)
    styles = {"done": "green", "stale": "yellow", "missing": "red", "failed": "red"}
    for step in status.steps:
        steps.add_row(
            step.stage,
            Text(step.key),
            Text(step.status, style=styles.get(step.status, "")),
            str(step.version or ""),
        )
    console.print(steps)
    console.print(
        Text.assemble(
            ("complete: ", "dim"),
            "yes" if status.complete else "no",
            *((("   next: ", "dim"), status.next_step) if status.next_step else ()),
        ),
        soft_wrap=True,
    )

    in_steps = {(s.stage, s.key) for s in status.steps if s.status != "missing"}
    others = [a for a in artifacts if (a.metadata.get("stage", ""), a.key) not in in_steps]
    if others:
        table = Table(title="other artifacts", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
        table.add_column("kind", no_wrap=True)
        table.add_column("key", overflow="fold")
        table.add_column("version", justify="right", no_wrap=True)
        table.add_column("format", no_wrap=True)
        table.add_column("size", justify="right", no_wrap=True)
        table.add_column("created", no_wrap=True)
        for art in others:
            table.add_row(
                art.kind,
                Text(art.key),
                str(art.version),
                art.format,
                format_size(len(art.content.encode())),
                short_time(art.created_at),
            )
        console.print(table)

    line = f"cost: {format_cost(cost.total_usd)} over {cost.calls} call{'s' if cost.calls != 1 else ''}"
    if cost.unpriced_calls:
        line += f" ({cost.unpriced_calls} unpriced)"
    written = agent_written_steps(artifacts)
    if written:
        line += f"; {written} step(s) written by the agent or by hand (no model call billed here)"
    if cost.unfinished_calls:
        line += f"; {cost.unfinished_calls} unfinished (possibly billed, tokens unknown; see `cost`)"
    console.print(line)


def agent_written_steps(artifacts: list[Any]) -> int:
    """Artifacts whose answer came from the calling agent (handoff) or an edit, not from a billed call."""
    return sum(1 for a in artifacts if a.metadata.get("source") in ("agent", "edit"))


# -- entry point -------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """The console script: run the app; errors end as one line on stderr, never a traceback."""
    try:
        app(args=argv, prog_name="papercoder-mcp")
    except PaperCoderError as exc:  # raised outside a command, e.g. by an option callback
        print_error(exc)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        info("interrupted")
        sys.exit(EXIT_INTERRUPTED)


# Commands that run the pipeline (full, cost, export) and the server (serve) register on `app`
# from their own modules.
importlib.import_module("papercoder_mcp.cli.pipeline")
importlib.import_module("papercoder_mcp.cli.serve")
importlib.import_module("papercoder_mcp.cli.eval")
