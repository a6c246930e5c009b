"""MCP tool `parse_paper`."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from papercoder_mcp.errors import PaperCoderError
from papercoder_mcp.pipeline.ingest import ingest_paper
from papercoder_mcp.server.app import app_of
from papercoder_mcp.server.results import ParseResult

TITLE = "Parse a paper and start a run"
ANNOTATIONS = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)


async def parse_paper(
    path: Annotated[
        str,
        Field(
            description="absolute path, on the server's machine, of the paper: a .pdf, a .tex file, a LaTeX "
            "source directory or arXiv .tar.gz (best: math stays LaTeX), or .md / .txt"
        ),
    ],
    ctx: Context,
) -> ParseResult:
    """Parse a paper into structured Markdown and start a new run holding it.

    Call this first. Returns the run id (every other tool takes it), the title, the section outline,
    the size and a token estimate, and warnings about anything the parser could not place. The paper
    is readable afterwards as the resource papercoder://runs/{run_id}/paper. Next: make_plan, or
    run_pipeline to do every stage.
    """
    app = app_of(ctx)
    try:
        run, paper = ingest_paper(app.store, path)
    except PaperCoderError as exc:
        raise ToolError(str(exc)) from exc
    markdown = paper.to_markdown(include_references=True)
    await app.changed(run.id, "paper")
    return ParseResult(
        run_id=run.id,
        title=paper.title,
        authors=paper.authors,
        source_format=paper.source_format,
        pages=paper.page_count,
        outline=paper.outline(),
        characters=len(markdown),
        tokens=paper.token_estimate(include_references=True),
        tokens_without_references=paper.token_estimate(include_references=False),
        warnings=paper.warnings,
        resource=f"papercoder://runs/{run.id}/paper",
        next=[f"make_plan(run_id={run.id!r})", f"run_pipeline(run_id={run.id!r})"],
    )
