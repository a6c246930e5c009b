"""MCP tool `parse_paper`."""

from __future__ import annotations

from typing import Annotated

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from papercoder_mcp.errors import PaperCoderError
from papercoder_mcp.paper.render import estimate_tokens
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
            description="an absolute path on the server's machine (.pdf, .tex, a LaTeX directory or arXiv "
            ".tar.gz, .md, .txt) or an arXiv id (arxiv:2401.01967, 2401.01967v2, an abs/pdf URL; source first)"
        ),
    ],
    ctx: Context,
) -> ParseResult:
    """Parse a paper into structured Markdown and start a new run holding it.

    Call this first. Returns the run id (every other tool takes it), the title, outline, size, token
    estimate and parser warnings; the paper is then at papercoder://runs/{run_id}/paper. Next: make_plan,
    or run_pipeline.
    """
    app = app_of(ctx)
    try:
        # Parsing is CPU-bound and an arXiv id means a download: both run off the event loop.
        run, paper = await anyio.to_thread.run_sync(lambda: ingest_paper(app.store, path))
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
        tokens_without_references=estimate_tokens(paper.prompt_markdown()),
        warnings=paper.warnings,
        resource=f"papercoder://runs/{run.id}/paper",
        next=[f"make_plan(run_id={run.id!r})", f"run_pipeline(run_id={run.id!r})"],
    )
